-- Enqueueing inside an application's transaction: undone alone on a duplicate id.
SAVEPOINT conveyor_enqueue
