"""``shifter``: run the user's command in a container, without privilege.

The caller is an ordinary user; there is no setuid binary.  Everything that
needs privilege happens inside an unprivileged user namespace that maps only
the caller's own uid and gid (1:1), so the command keeps its identity:

* ``prepared`` -- the command's entry point, and the launch plan ``setupRoot``
  writes: when the plan fits, the prepared container is entered with almost
  nothing else loaded;
* ``flow``     -- the whole launch, in order, for everything else;
* ``enter``    -- the user + mount namespace (uid/gid maps, no setgroups), the
  switch of its root to the container (bind + pivot_root), every capability
  set dropped and no_new_privs;
* ``private``  -- a container of our own when none is prepared: the image served
  by a ``squashfuse_ll`` child, merged under a site layer with one overlay mount;
* ``execute``  -- working directory, module userhooks, exec with the container PATH;
* ``etc``      -- the site's ``/etc`` files of a private container;
* ``lookup``   -- tag -> image id through the gateway client (only for tags);

Raw system calls come from ``kernel.libc`` and path resolution inside the
container root from ``kernel.paths``; ``shifter_runtime.light`` keeps the
start-up near Python's own (see bench/README.md).
"""
