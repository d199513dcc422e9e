/*
 * shifter_slurm.so: the C half of the Shifter SPANK plugin.
 *
 * C holds only what SPANK requires: the exported symbols, the option table
 * (options must be registered without starting Python so that `--help` and
 * plain submissions stay cheap) and thin hook stubs.  Every decision is made by
 * the Python package shifter_slurm, reached through the one cffi entry point
 * py_spank().  Python is started lazily, only when a hook has work to do:
 *   slurmd            never
 *   srun/sbatch/salloc init_post_opt, when a shifter option or SHIFTER_IMAGE/
 *                     SHIFTER_CCM is present
 *   prolog/epilog     when the job asked for an image (SPANK_SHIFTER_IMAGE)
 *   slurmstepd        when the job has an image and sshd/ccm/extern features
 *                     are configured in plugstack.conf
 * The interpreter is the install prefix's venv, started with an isolated
 * configuration so PYTHONHOME/PYTHONPATH of the user cannot change it.
 *
 * Built by build.py, which prepends SHIFTER_VENV_PYTHON and the cffi glue.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <slurm/spank.h>

SPANK_PLUGIN(shifter, 1);

int shifter_py_ready = 0;           /* set to 1 by the embedding init code */
int py_spank(const char *hook, spank_t sp, int ac, char **av);   /* cffi: extern "Python+C" */

enum { OPT_IMAGE = 1, OPT_VOLUME, OPT_MODULE, OPT_CCM, OPT_COUNT };
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

static int has_prefix_arg(int ac, char **av, const char *prefix)
{
    size_t n = strlen(prefix);
    for (int i = 0; i < ac; i++)
        if (strncmp(av[i], prefix, n) == 0 && av[i][n] && strcmp(av[i] + n, "0") != 0)
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

/* Whether the hook has anything to do, decided without Python. */
static int wanted(spank_t sp, const char *hook, int ac, char **av)
{
    char buf[8];
    switch (spank_context()) {
    case S_CTX_LOCAL:
    case S_CTX_ALLOCATOR:
        return strcmp(hook, "init_post_opt") == 0 &&
               (opt_seen || getenv("SHIFTER_IMAGE") || getenv("SHIFTER_CCM"));
    case S_CTX_JOB_SCRIPT:
        /* never spank_job_control_getenv here: it segfaults in 22.05 */
        return getenv("SPANK_SHIFTER_IMAGE") || getenv("SPANK_SHIFTER_CCM");
    case S_CTX_REMOTE:
        if (strcmp(hook, "init_post_opt") == 0)
            return 0;
        if (!(has_prefix_arg(ac, av, "enable_sshd=") || has_prefix_arg(ac, av, "enable_ccm=") ||
              has_prefix_arg(ac, av, "extern_cgroup=") || has_prefix_arg(ac, av, "extern_setup=")))
            return 0;
        return spank_getenv(sp, "SHIFTER_IMAGE", buf, sizeof buf) == ESPANK_SUCCESS ||
               spank_getenv(sp, "SHIFTER_IMAGE", buf, sizeof buf) == ESPANK_NOSPACE ||
               spank_getenv(sp, "SHIFTER_CCM", buf, sizeof buf) == ESPANK_SUCCESS;
    default:
        return 0;
    }
}

/* Start CPython from the install prefix's venv, isolated from the caller's
 * environment.  Slurm dlopen()s plugins RTLD_LOCAL, so libpython's symbols are
 * first promoted to global scope for the extension modules Python will load. */
static int start_python(void)
{
    PyConfig config;
    PyStatus status;
    if (Py_IsInitialized())
        return 0;
    if (!dlopen(SHIFTER_LIBPYTHON, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) {
        slurm_error("shifter: cannot promote %s: %s", SHIFTER_LIBPYTHON, dlerror());
        return -1;
    }
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    status = PyConfig_SetBytesString(&config, &config.program_name, SHIFTER_VENV_PYTHON);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        slurm_error("shifter: cannot start Python %s: %s", SHIFTER_VENV_PYTHON,
                    status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    PyEval_SaveThread();
    return 0;
}

static int hook(const char *name, spank_t sp, int ac, char **av)
{
    int rc;
    if (!wanted(sp, name, ac, av))
        return 0;
    if (start_python() != 0)
        return -1;
    rc = py_spank(name, sp, ac, av);
    if (!shifter_py_ready) {
        slurm_error("shifter: the Python part of the plugin failed to load (%s); see above", name);
        return -1;
    }
    return rc;
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

int slurm_spank_task_post_fork(spank_t sp, int ac, char **av)
{
    return hook("task_post_fork", sp, ac, av);
}

int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
    return hook("task_init_privileged", sp, ac, av);
}
