"""The thin layer that touches the kernel (``_ctypes``; x86_64 syscall numbers).

``libc``: the raw calls (mount, umount2, unshare, pivot_root, prctl, capset, syscall).
``paths``: openat2 with RESOLVE_IN_ROOT, so container paths never lead out of the root.
``mounts``: the fd-based mount API (open_tree, mount_setattr, move_mount,
fsopen/fsmount): binds are made nosuid/nodev/ro while still detached.
``loop``: loop devices through /dev/loop-control and LOOP_CONFIGURE (autoclear).
``creds``: acting on files as a user while root.
"""
