-- A deleted line must be routed to the document of its order, but with the default replica
-- identity a delete event carries only the primary key (order_id arrives as 0). FULL identity
-- puts the whole old row in `before`; order lines are small, so the extra WAL is cheap.
ALTER TABLE order_lines REPLICA IDENTITY FULL;
