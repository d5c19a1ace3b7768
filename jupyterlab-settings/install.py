"""Install the course's JupyterLab settings overrides into this Python's environment.

JupyterLab reads ``<sys.prefix>/share/jupyter/lab/settings/overrides.json`` as its defaults.
The course's turn off the "Would you like to get notified about official Jupyter news?" prompt
and the update check: the course runs offline, and in a workshop a pop-up on 100 screens
is 100 questions. ``make lab``/``make test`` (through the venv set-up) and Binder's
``postBuild`` run this; a learner can still change both in Settings > Notifications.

It also writes the user settings of the Chinese edition's JupyterLab (``make lab LANG=zh_CN``
points ``JUPYTERLAB_SETTINGS_DIR`` there): the interface in Chinese, from the pinned
language pack. The English edition keeps the learner's own user settings.
"""

import json
import shutil
import sys
from pathlib import Path

target = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
target.mkdir(parents=True, exist_ok=True)
shutil.copy(Path(__file__).with_name("overrides.json"), target / "overrides.json")
print(f"JupyterLab settings overrides installed in {target.name}/ of this environment")

chinese = Path(sys.prefix) / "share" / "jupyter" / "lab" / "user-settings-zh-CN"
language = chinese / "@jupyterlab" / "translation-extension" / "plugin.jupyterlab-settings"
language.parent.mkdir(parents=True, exist_ok=True)
language.write_text(json.dumps({"locale": "zh_CN"}) + "\n")
print(f"Chinese interface settings installed in {chinese.name}/ of this environment")
