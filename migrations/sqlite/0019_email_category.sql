-- "email": the task category of the reserved e-mail reading slots the
-- week's schedule places from the duty roster (the process's e-mail
-- channel). A desk that had added a category of that name keeps it, now
-- built in.
INSERT INTO task_categories (name, builtin) VALUES ('email', 1)
    ON CONFLICT (name) DO UPDATE SET builtin = 1;
