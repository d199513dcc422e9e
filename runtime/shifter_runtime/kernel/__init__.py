"""The thin layer that touches the kernel (ctypes; x86_64 syscall numbers).

``paths``: openat2 with RESOLVE_IN_ROOT, so container paths never lead out of the root.
``mounts``: mount/umount2 and the fd-based API (open_tree, mount_setattr, move_mount,
fsopen/fsmount): binds are made nosuid/nodev/ro while still detached.
``loop``: loop devices through /dev/loop-control and LOOP_CONFIGURE (autoclear).
``creds``: unshare, setns, pivot_root, prctl, capabilities, acting as a user.
"""
