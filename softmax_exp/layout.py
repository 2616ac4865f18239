"""The names of the files in run and sweep directories, in one place.

Imports nothing of ours, so that whatever writes or reads a directory (the trainer's
recorder, the sweep, the report, the CLI) can name its files without importing the
others. Changing a name here breaks every directory already written: don't.
"""

# A run directory (`softmax train`, and each trial of a sweep under trials/<id>/)
CONFIG_FILE = "config.yaml"  # the resolved settings
METRICS_FILE = "metrics.csv"  # one row per finished epoch, appended and synced
RUN_FILE = "run.json"  # status, timings, versions, final and best metrics
FINAL_PARAMS = "final.params"
BEST_PARAMS = "best.params"
ERROR_LOG = "error.log"  # a failed trial's traceback
CHECKPOINT_STATE = "checkpoint.json"  # names its arrays' file; written last
CHECKPOINT_PARAMS = "checkpoint.params"  # format 2's arrays (format 3 names its own)
CHECKPOINT_STATES = "checkpoint.states"  # an older softmax-exp's pickled optimizer states

# A sweep directory (`softmax sweep`)
TRIALS_CSV = "trials.csv"  # one row per ended trial
EPOCHS_CSV = "epochs.csv"  # one row per trial and epoch
SPEC_FILE = "sweep.yaml"  # the sweep file as it was read
COMMANDS_LOG = "commands.log"  # every command that ran the sweep, with its time
OWNER_FILE = "sweep.json"  # which sweep (name and file) the directory belongs to
TRIALS_DIR = "trials"  # a run directory per trial
LOCK_FILE = ".lock"  # held by the sweep writing the directory (lock.py)
TPE_JOURNAL = "optuna.journal"  # a TPE sweep's Optuna study, resumed with the sweep
TPE_SAMPLER = "tpe-sampler.json"  # its sampler's random streams after the last round
BEST_FILE = "best.yaml"  # the selected point as a train config
REFIT_DIR = "refit"  # the run that trains it on all the training data (--refit)

# Either
REPORT_FILE = "report.html"
STUDY_FILE = "optuna-study.journal"
