"""The ``conveyor`` CKAN plugin (entry point ``conveyor`` in ``ckan.plugins``).

``ckan.plugins = conveyor ...`` in a site's ini is the whole switch: the
plugin puts conveyor's job functions in place of CKAN's as soon as it is
loaded (so extensions loaded after it import conveyor's), again once every
plugin is loaded (``IConfigurable``, rebinding names extensions copied
earlier), adds ``ckan conveyor ...`` (``IClick``), and mounts conveyor's
dashboard for sysadmins at ``/ckan-admin/jobs/`` (``IBlueprint``, with its
templates on CKAN's search path through ``IConfigurer``).
"""

from __future__ import annotations

from typing import Any

from ckan import plugins
from conveyor.ckan import jobs


class ConveyorPlugin(plugins.SingletonPlugin):  # type: ignore[misc]
    """Runs the site's background jobs on conveyor."""

    plugins.implements(plugins.IConfigurable)
    plugins.implements(plugins.IClick)
    plugins.implements(plugins.IConfigurer)
    plugins.implements(plugins.IBlueprint)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        jobs.install()

    def configure(self, config: Any) -> None:
        del config  # read through ckan.common.config, which CKAN keeps current
        jobs.install()

    def get_commands(self) -> list[Any]:
        from conveyor.ckan.cli import conveyor_group  # noqa: PLC0415 -- only for `ckan`

        return [conveyor_group]

    def update_config(self, config: Any) -> None:
        from conveyor.ckan.dashboard import templates_dir  # noqa: PLC0415 -- needs CKAN

        # CKAN renders every template through its own loader, which does not
        # look in blueprints' template folders.
        plugins.toolkit.add_template_directory(config, templates_dir())

    def get_blueprint(self) -> Any:
        from conveyor.ckan.dashboard import dashboard_blueprint  # noqa: PLC0415 -- needs CKAN

        return dashboard_blueprint()
