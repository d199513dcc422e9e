"""``shifter``: run the user's command in a container, without privilege.

The caller is an ordinary user; there is no setuid binary.  Everything that
needs privilege happens inside an unprivileged user namespace that maps only
the caller's own uid and gid (1:1), so the command keeps its identity:

* ``flow``     -- the whole launch, in order (the only module the CLI imports);
* ``userns``   -- the user + mount namespace (uid/gid maps, no setgroups);
* ``enter``    -- switch the namespace's root to a container (bind + pivot_root);
* ``private``  -- a container of our own when none is prepared: the image served
  by a ``squashfuse_ll`` child, merged under a site layer with one overlay mount;
* ``privs``    -- drop every capability set, set no_new_privs;
* ``execute``  -- working directory, module userhooks, exec with the container PATH;
* ``etc``      -- the site's ``/etc`` files of a private container;
* ``lookup``   -- tag -> image id through the gateway client (only for tags);

Raw system calls come from ``kernel.libc`` and path resolution inside the
container root from ``kernel.paths``; ``shifter_runtime.light`` keeps the
start-up near Python's own (see bench/README.md).
"""
