-- Point this transaction at conveyor's schema; the previous search path, to restore.
SELECT current_setting('search_path') AS previous,
       set_config('search_path', %(search_path)s, true) AS current
