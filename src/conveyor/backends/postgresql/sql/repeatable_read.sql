-- One snapshot for the whole transaction (it must come first in it).
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ
