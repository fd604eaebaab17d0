"""Workers: a supervisor process running jobs in child processes."""

from conveyor.worker.supervisor import Worker

__all__ = ["Worker"]
