/*
 * shifter_slurm.so: the C half of the Shifter SPANK plugin.
 *
 * C holds only what SPANK requires: the exported symbols, the option table
 * (options must be registered without starting Python so that `--help` and
 * plain submissions stay cheap) and thin hook stubs.  Every decision is made by
 * the Python package shifter_slurm, reached through shifter_py_hook() of
 * shifter_slurm_py.so.  Python is started lazily, only when a hook has work:
 *   slurmd            never
 *   srun/sbatch/salloc init_post_opt, when a shifter option or SHIFTER_IMAGE/
 *                     SHIFTER_CCM is present
 *   prolog/epilog     when the job asked for an image (SPANK_SHIFTER_IMAGE)
 *   slurmstepd        task_init_privileged of --ccm jobs (enable_ccm=1)
 * This library does not link libpython: a job that asks for no image pays
 * only for loading a small C object.  When a hook has work, it dlopen()s the
 * cffi embedding module shifter_slurm_py.so (linked to libpython, loaded
 * RTLD_GLOBAL so Python's extension modules resolve against it) and calls
 * its shifter_py_hook(); see pyhost.c.  A step inside a job whose options only
 * repeat what the job already pinned (inherited by srun in a batch script)
 * needs no Python at all.
 *
 * Built by build.py with -DSHIFTER_PY_MODULE="<path of shifter_slurm_py.so>".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <slurm/slurm.h>
#include <slurm/spank.h>
#include "options.h"

SPANK_PLUGIN(shifter, 1);

typedef int (*py_hook_f)(const char *hook, spank_t sp, int ac, char **av, const char *(*opt)(int));

static char *opt_value[OPT_COUNT];
static int opt_seen = 0;

/* Options are stored as given; shifter_slurm validates them in init_post_opt.
 * A repeated --volume is joined with ';' (the volume-map list separator). */
static int opt_cb(int val, const char *optarg, int remote)
{
    const char *arg = optarg ? optarg : "1";
    char *joined = NULL;
    if (val <= 0 || val >= OPT_COUNT)
        return -1;
    if (val == OPT_VOLUME && opt_value[val] && !remote) {
        if (asprintf(&joined, "%s;%s", opt_value[val], arg) < 0)
            return -1;
    } else if (!(joined = strdup(arg))) {
        return -1;
    }
    free(opt_value[val]);
    opt_value[val] = joined;
    opt_seen = 1;
    return 0;
}

static struct spank_option opt_short[] = {
    {"image", "image", "shifter image to use", 1, OPT_IMAGE, opt_cb},
    {"volume", "volume", "shifter image bindings", 1, OPT_VOLUME, opt_cb},
    {"module", "module", "shifter module selection", 1, OPT_MODULE, opt_cb},
    {"ccm", NULL, "ccm emulation mode", 0, OPT_CCM, opt_cb},
};
static struct spank_option opt_long[] = {
    {"shifter.image", "shifter.image", "shifter image to use", 1, OPT_IMAGE, opt_cb},
    {"shifter.volume", "shifter.volume", "shifter image bindings", 1, OPT_VOLUME, opt_cb},
    {"shifter.module", "shifter.module", "shifter module selection", 1, OPT_MODULE, opt_cb},
};

/* Value of an option seen by a callback in this process, or NULL. */
const char *shifter_opt(int val)
{
    return (val > 0 && val < OPT_COUNT) ? opt_value[val] : NULL;
}

static int has_arg(int ac, char **av, const char *want)
{
    for (int i = 0; i < ac; i++)
        if (strcmp(av[i], want) == 0)
            return 1;
    return 0;
}

static int register_options(spank_t sp, int ac, char **av)
{
    int lng = has_arg(ac, av, "long_options");
    struct spank_option *tab = lng ? opt_long : opt_short;
    int n = lng ? 3 : 3 + has_arg(ac, av, "enable_ccm=1");
    for (int i = 0; i < n; i++)
        if (spank_option_register(sp, &tab[i]) != ESPANK_SUCCESS)
            return -1;
    return 0;
}

/* Options that only repeat the job's pinned image (srun inside a batch job
 * inherits them through SLURM_SPANK__SLURM_SPANK_OPTION_shifter_*). */
static int same(const char *opt, const char *env)
{
    return !opt || (env && strcmp(opt, env) == 0);
}

static int inherited_only(void)
{
    const char *img = opt_value[OPT_IMAGE], *pinned = getenv("SHIFTER_IMAGE");
    const char *type = getenv("SHIFTER_IMAGETYPE");
    if (!img || !pinned || !type || strcmp(type, "id") != 0 || opt_value[OPT_CCM])
        return 0;
    if (strncmp(img, "id:", 3) != 0 || strcmp(img + 3, pinned) != 0)
        return 0;
    return same(opt_value[OPT_VOLUME], getenv("SHIFTER_VOLUME")) &&
           same(opt_value[OPT_MODULE], getenv("SHIFTER_MODULE"));
}

static int is_extern_step(spank_t sp)
{
    uint32_t step;
    return spank_get_item(sp, S_JOB_STEPID, &step) == ESPANK_SUCCESS && step == SLURM_EXTERN_CONT;
}

/* Whether the hook has anything to do, decided without Python. */
static int wanted(spank_t sp, const char *hook, int ac, char **av)
{
    char buf[8];
    switch (spank_context()) {
    case S_CTX_LOCAL:
    case S_CTX_ALLOCATOR:
        if (strcmp(hook, "init_post_opt") != 0)
            return 0;
        if (opt_seen)
            return !inherited_only();
        if (getenv("SHIFTER_CCM"))
            return 1;
        /* a step of a job that exported a pinned image has nothing to resolve */
        if (getenv("SLURM_JOB_ID") && getenv("SHIFTER_IMAGETYPE") &&
            strcmp(getenv("SHIFTER_IMAGETYPE"), "id") == 0)
            return 0;
        return getenv("SHIFTER_IMAGE") != NULL;
    case S_CTX_JOB_SCRIPT:
        /* never spank_job_control_getenv here: it segfaults in 22.05 */
        return getenv("SPANK_SHIFTER_IMAGE") || getenv("SPANK_SHIFTER_CCM");
    case S_CTX_REMOTE:
        /* extern_cgroup: the extern step adopts the container's sshd */
        if (strcmp(hook, "task_post_fork") == 0)
            return has_arg(ac, av, "extern_cgroup=1") && is_extern_step(sp);
        /* --ccm: cheap pre-filter on the user's own SHIFTER_CCM; stepd.py
         * places the task only in a --ccm container, refusing it otherwise */
        return strcmp(hook, "task_init_privileged") == 0 && has_arg(ac, av, "enable_ccm=1") &&
               spank_getenv(sp, "SHIFTER_CCM", buf, sizeof buf) == ESPANK_SUCCESS &&
               strcmp(buf, "1") == 0;
    default:
        return 0;
    }
}

static py_hook_f load_python(void)
{
    static py_hook_f fn = NULL;
    void *handle;
    if (fn)
        return fn;
    if (!(handle = dlopen(SHIFTER_PY_MODULE, RTLD_NOW | RTLD_GLOBAL))) {
        slurm_error("shifter: cannot load %s: %s", SHIFTER_PY_MODULE, dlerror());
        return NULL;
    }
    if (!(fn = (py_hook_f)dlsym(handle, "shifter_py_hook")))
        slurm_error("shifter: %s has no shifter_py_hook: %s", SHIFTER_PY_MODULE, dlerror());
    return fn;
}

static int hook(const char *name, spank_t sp, int ac, char **av)
{
    py_hook_f fn;
    if (!wanted(sp, name, ac, av))
        return 0;
    if (!(fn = load_python()))
        return -1;
    return fn(name, sp, ac, av, shifter_opt);
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    spank_context_t ctx = spank_context();
    if (ctx == S_CTX_LOCAL || ctx == S_CTX_ALLOCATOR || ctx == S_CTX_REMOTE)
        if (register_options(sp, ac, av) != 0)
            return -1;
    return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    return hook("init_post_opt", sp, ac, av);
}

int slurm_spank_job_prolog(spank_t sp, int ac, char **av)
{
    return hook("job_prolog", sp, ac, av);
}

int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
    return hook("job_epilog", sp, ac, av);
}

int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
    return hook("task_init_privileged", sp, ac, av);
}

int slurm_spank_task_post_fork(spank_t sp, int ac, char **av)
{
    return hook("task_post_fork", sp, ac, av);
}
