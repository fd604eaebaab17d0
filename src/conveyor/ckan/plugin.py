"""The ``conveyor`` CKAN plugin (entry point ``conveyor`` in ``ckan.plugins``).

``ckan.plugins = conveyor ...`` in a site's ini is the whole switch: the
plugin puts conveyor's job functions in place of CKAN's as soon as it is
loaded (so extensions loaded after it import conveyor's), again once every
plugin is loaded (``IConfigurable``, rebinding names extensions copied
earlier), and adds ``ckan conveyor ...`` (``IClick``).
"""

from __future__ import annotations

from typing import Any

from ckan import plugins
from conveyor.ckan import jobs


class ConveyorPlugin(plugins.SingletonPlugin):  # type: ignore[misc]
    """Runs the site's background jobs on conveyor."""

    plugins.implements(plugins.IConfigurable)
    plugins.implements(plugins.IClick)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        jobs.install()

    def configure(self, config: Any) -> None:
        del config  # read through ckan.common.config, which CKAN keeps current
        jobs.install()

    def get_commands(self) -> list[Any]:
        from conveyor.ckan.cli import conveyor_group  # noqa: PLC0415 -- only for `ckan`

        return [conveyor_group]
