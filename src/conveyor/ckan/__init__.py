"""conveyor inside a CKAN site: the ``conveyor`` CKAN plugin and what it installs.

Adding ``conveyor`` to ``ckan.plugins`` makes CKAN's job functions
(``ckan.lib.jobs``, the toolkit's job names, the ``job_*`` actions and the
``ckan jobs`` commands) run on conveyor, configured from the site's own ini.
See docs/ckan.md.

Nothing here is imported by ``import conveyor``: conveyor works without CKAN,
and only the modules that need CKAN (``plugin``, ``jobs``, ``worker``,
``cli``, ``rqmove``) import it.
"""
