SELECT set_config('search_path', %(search_path)s, true) AS current
