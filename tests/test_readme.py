"""The README stays true: its settings reference is the generated one, and its
quick-start test command is the one CI runs."""
import os
import re

import pytest

from spyder.core.settings import Settings, reference_markdown

pytestmark = pytest.mark.timeout(30)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START, END = "<!-- settings-reference:start -->", "<!-- settings-reference:end -->"


def readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_settings_reference_is_generated_from_defaultsettings():
    text = readme()
    section = text[text.index(START) + len(START):text.index(END)]
    assert section.strip() == reference_markdown().strip(), (
        "README settings reference is out of date: regenerate it with "
        "'spyder settings --reference'")
    for name in Settings().as_dict():
        assert "`%s`" % name in section, name


def test_ci_runs_the_readme_test_command():
    text = readme()
    command = re.search(r"run them \(this is what `\.ci/run` does\):\n\n```sh\n(.+)\n```",
                        text).group(1)
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        assert command in f.read().splitlines()
