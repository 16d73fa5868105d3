-- Nothing to undo: the values are dropped with the column by 000001's down.
SELECT 1;
