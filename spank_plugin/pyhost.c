/*
 * pyhost.c: the C part of shifter_slurm_py.so, the cffi embedding module that
 * hosts CPython for the plugin (shifter_slurm.so loads it on demand).
 *
 * CPython is the install prefix's venv, started with an isolated
 * configuration (PYTHONHOME, PYTHONPATH and friends of the calling user are
 * ignored) and program_name=<venv>/bin/python, so getpath finds pyvenv.cfg and
 * the venv's site-packages (shifter_slurm, cffi) are what gets imported.  The
 * embedding init code sets shifter_py_ready; if it failed (cffi then returns 0
 * from py_spank silently) the hook fails loudly instead.
 *
 * Compiled inside the cffi module by build.py (SHIFTER_VENV_PYTHON defined).
 */
int shifter_py_ready = 0;
static const char *(*plugin_opt)(int) = NULL;
static int py_spank(const char *hook, spank_t sp, int ac, char **av);

/* Option values stored by the plugin's callbacks (called from Python). */
const char *shifter_opt(int val)
{
    return plugin_opt ? plugin_opt(val) : NULL;
}

static int start_python(void)
{
    PyConfig config;
    PyStatus status;
    if (Py_IsInitialized())
        return 0;
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

int shifter_py_hook(const char *hook, spank_t sp, int ac, char **av, const char *(*opt)(int))
{
    int rc;
    plugin_opt = opt;
    if (start_python() != 0)
        return -1;
    rc = py_spank(hook, sp, ac, av);
    if (!shifter_py_ready) {
        slurm_error("shifter: the Python part of the plugin failed to load (%s); see above", hook);
        return -1;
    }
    return rc;
}
