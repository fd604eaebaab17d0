"""conveyor: background jobs for Python applications.

The module API is the reference's (CKAN's ``ckan.lib.jobs``), so code written
against it ports by changing one import::

    import conveyor as jobs

    jobs.enqueue(log_job, ["My log message"], title="My log job")
"""

from conveyor.__about__ import __version__
from conveyor.api import (
    DEFAULT_QUEUE_NAME,
    Queue,
    add_queue_name_prefix,
    enqueue,
    enqueue_at,
    enqueue_in,
    enqueue_job,
    enqueue_many,
    get_all_queues,
    get_job_queue,
    get_queue,
    job_from_id,
    remove_queue_name_prefix,
    test_job,
    wait_for_job,
)
from conveyor.backends import JobState
from conveyor.config import Config, configure
from conveyor.exceptions import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    ConveyorError,
    DuplicateJobError,
    DuplicateTokenError,
    FunctionNotImportable,
    InvalidJobError,
    JobFailedError,
    JobStateError,
    JobTimeoutException,
    NoStoreError,
    NoSuchJobError,
    NoSuchPeriodicJob,
    NoSuchTokenError,
    NoSuchWorkerError,
    PeriodicJobError,
    SerializationError,
    StoreVersionError,
    ValidationError,
    WaitTimeoutError,
)
from conveyor.execution import get_current_job, set_progress
from conveyor.job import Job, dictize_job
from conveyor.manage import (
    job_cancel,
    job_clear,
    job_count,
    job_list,
    job_requeue,
    job_requeue_failed,
    job_run_now,
    job_show,
    paused_queues,
    queue_list,
    queue_pause,
    queue_resume,
    worker_list,
    worker_quiet,
    worker_stop,
)
from conveyor.periodic_jobs import (
    PeriodicJob,
    periodic,
    periodic_disable,
    periodic_enable,
    periodic_forget,
    periodic_list,
    periodic_run,
    register_periodic,
)
from conveyor.retry import Retry
from conveyor.tasks import send_task, task
from conveyor.worker import Worker

#: The reference's default for ``job_list``'s limit.
DEFAULT_JOB_LIST_LIMIT = 200

__all__ = [
    "DEFAULT_JOB_LIST_LIMIT",
    "DEFAULT_QUEUE_NAME",
    "BackendError",
    "BackendUnavailable",
    "Config",
    "ConfigError",
    "ConveyorError",
    "DuplicateJobError",
    "DuplicateTokenError",
    "FunctionNotImportable",
    "InvalidJobError",
    "Job",
    "JobFailedError",
    "JobState",
    "JobStateError",
    "JobTimeoutException",
    "NoStoreError",
    "NoSuchJobError",
    "NoSuchPeriodicJob",
    "NoSuchTokenError",
    "NoSuchWorkerError",
    "PeriodicJob",
    "PeriodicJobError",
    "Queue",
    "Retry",
    "SerializationError",
    "StoreVersionError",
    "ValidationError",
    "WaitTimeoutError",
    "Worker",
    "__version__",
    "add_queue_name_prefix",
    "configure",
    "dictize_job",
    "enqueue",
    "enqueue_at",
    "enqueue_in",
    "enqueue_job",
    "enqueue_many",
    "get_all_queues",
    "get_current_job",
    "get_job_queue",
    "get_queue",
    "job_cancel",
    "job_clear",
    "job_count",
    "job_from_id",
    "job_list",
    "job_requeue",
    "job_requeue_failed",
    "job_run_now",
    "job_show",
    "paused_queues",
    "periodic",
    "periodic_disable",
    "periodic_enable",
    "periodic_forget",
    "periodic_list",
    "periodic_run",
    "queue_list",
    "queue_pause",
    "queue_resume",
    "register_periodic",
    "remove_queue_name_prefix",
    "send_task",
    "set_progress",
    "task",
    "test_job",
    "wait_for_job",
    "worker_list",
    "worker_quiet",
    "worker_stop",
]
