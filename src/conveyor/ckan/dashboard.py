"""conveyor's dashboard inside a CKAN site, for its sysadmins, at ``/ckan-admin/jobs/``.

The plugin mounts the dashboard blueprint with CKAN's own sign-in in place of
conveyor's API tokens: whoever CKAN has signed in and its ``sysadmin``
authorization check lets through (as CKAN's own ``/ckan-admin`` pages ask)
may look and act; anyone else gets 403. The dashboard's own CSRF check still
guards every action (a value kept in its signed cookie and carried by its
forms), so the blueprint is exempted from CKAN's CSRF form field, which its
forms do not carry.
"""

from __future__ import annotations

from importlib import resources

from ckan.common import current_user
from flask import Blueprint

from ckan import logic
from conveyor.ckan import jobs
from conveyor.web import create_dashboard_blueprint
from conveyor.web.dashboard_session import Viewer

#: Where the dashboard is mounted in a CKAN site, beside CKAN's own admin pages.
URL_PREFIX = "/ckan-admin/jobs"


def templates_dir() -> str:
    """The directory holding the dashboard's templates, for CKAN's template search path."""
    return str(resources.files("conveyor.web").joinpath("templates"))


def sysadmin() -> Viewer | None:
    """The signed-in CKAN user if CKAN's ``sysadmin`` authorization passes, else None."""
    jobs.current_config()  # conveyor's configuration in line with the site's, as the jobs do
    try:
        logic.check_access("sysadmin", {"user": current_user.name, "auth_user_obj": current_user})
    except logic.NotAuthorized:
        return None
    return Viewer(name=current_user.name)


def dashboard_blueprint() -> Blueprint:
    """The dashboard for a CKAN site's sysadmins, at :data:`URL_PREFIX`."""
    from ckan.config.middleware.flask_app import csrf  # noqa: PLC0415 -- CKAN's app, built

    blueprint = create_dashboard_blueprint(authenticate=sysadmin, url_prefix=URL_PREFIX)
    csrf.exempt(blueprint)  # the dashboard checks its own CSRF value on every action
    return blueprint
