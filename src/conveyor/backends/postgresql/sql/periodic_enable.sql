-- Enable or disable one periodic job; its entry as it is now.
UPDATE conveyor_periodic SET enabled = %(enabled)s WHERE name = %(name)s RETURNING *
