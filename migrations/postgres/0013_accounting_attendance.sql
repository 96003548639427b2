-- "attendance": the work plan's category for time spent attending clients
-- (contacts of every channel). Work-plan compliance counts contacts in it;
-- no task is filed under it and the week's schedule places no block of it.
-- A desk that had added a category of that name keeps it, now built in.
INSERT INTO task_categories (name, builtin) VALUES ('attendance', TRUE)
    ON CONFLICT (name) DO UPDATE SET builtin = TRUE;
