/* Option identifiers shared by shifter_slurm.c and the Python host (shifter_opt(val)). */
#ifndef SHIFTER_SLURM_OPTIONS_H
#define SHIFTER_SLURM_OPTIONS_H
enum { OPT_IMAGE = 1, OPT_VOLUME, OPT_MODULE, OPT_CCM, OPT_COUNT };
#endif
