"""The 20 rules of Yang et al. 2019, in the paper's input order, with their display names and rule subsets.

Yang, Joglekar, Song, Newsome & Wang (2019), "Task representations in neural networks trained to perform many
cognitive tasks", Nat Neurosci 22:297. The order of :data:`RULES` is the order of the rule input units in the
paper (and in ``gyyang/multitask``'s ``rules_dict['all']``), so rule unit ``k`` is ``RULES[k]`` whenever all 20
rule units are present.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["DRISCOLL_RULES", "DUNCKER_RULES", "RULES", "YANG_WEIGHTS", "Rule"]


class Rule(str, Enum):
    """One of Yang's 20 rules; the value is Yang's own rule name (``Rule.DELAYANTI == "delayanti"``)."""

    FDGO = "fdgo"
    REACTGO = "reactgo"
    DELAYGO = "delaygo"
    FDANTI = "fdanti"
    REACTANTI = "reactanti"
    DELAYANTI = "delayanti"
    DM1 = "dm1"
    DM2 = "dm2"
    CONTEXTDM1 = "contextdm1"
    CONTEXTDM2 = "contextdm2"
    MULTIDM = "multidm"
    DELAYDM1 = "delaydm1"
    DELAYDM2 = "delaydm2"
    CONTEXTDELAYDM1 = "contextdelaydm1"
    CONTEXTDELAYDM2 = "contextdelaydm2"
    MULTIDELAYDM = "multidelaydm"
    DMSGO = "dmsgo"
    DMSNOGO = "dmsnogo"
    DMCGO = "dmcgo"
    DMCNOGO = "dmcnogo"

    def __str__(self) -> str:
        return self.value

    @property
    def position(self) -> int:
        """Position in the paper's rule order (0-19): the rule unit when all 20 rule units are present."""
        return RULES.index(self)

    @property
    def display_name(self) -> str:
        """The paper's label (e.g. ``"Dly Anti"``)."""
        return _DISPLAY[self]

    @property
    def id_name(self) -> str:
        """The CamelCase name used in the gym id ``mtrnn/Yang19-<id_name>-v0`` (e.g. ``"DelayAnti"``)."""
        return _ID_NAME[self]

    @property
    def env_id(self) -> str:
        """The registered gym id, e.g. ``"mtrnn/Yang19-DelayAnti-v0"``."""
        return f"mtrnn/Yang19-{self.id_name}-v0"


#: All 20 rules in the paper's order (the order of the rule input units).
RULES: tuple[Rule, ...] = tuple(Rule)

_DISPLAY: dict[Rule, str] = {
    Rule.FDGO: "Go",
    Rule.REACTGO: "RT Go",
    Rule.DELAYGO: "Dly Go",
    Rule.FDANTI: "Anti",
    Rule.REACTANTI: "RT Anti",
    Rule.DELAYANTI: "Dly Anti",
    Rule.DM1: "DM 1",
    Rule.DM2: "DM 2",
    Rule.CONTEXTDM1: "Ctx DM 1",
    Rule.CONTEXTDM2: "Ctx DM 2",
    Rule.MULTIDM: "MultSen DM",
    Rule.DELAYDM1: "Dly DM 1",
    Rule.DELAYDM2: "Dly DM 2",
    Rule.CONTEXTDELAYDM1: "Ctx Dly DM 1",
    Rule.CONTEXTDELAYDM2: "Ctx Dly DM 2",
    Rule.MULTIDELAYDM: "MultSen Dly DM",
    Rule.DMSGO: "DMS",
    Rule.DMSNOGO: "DNMS",
    Rule.DMCGO: "DMC",
    Rule.DMCNOGO: "DNMC",
}

_ID_NAME: dict[Rule, str] = {
    Rule.FDGO: "Go",
    Rule.REACTGO: "ReactGo",
    Rule.DELAYGO: "DelayGo",
    Rule.FDANTI: "Anti",
    Rule.REACTANTI: "ReactAnti",
    Rule.DELAYANTI: "DelayAnti",
    Rule.DM1: "DM1",
    Rule.DM2: "DM2",
    Rule.CONTEXTDM1: "ContextDM1",
    Rule.CONTEXTDM2: "ContextDM2",
    Rule.MULTIDM: "MultiDM",
    Rule.DELAYDM1: "DelayDM1",
    Rule.DELAYDM2: "DelayDM2",
    Rule.CONTEXTDELAYDM1: "ContextDelayDM1",
    Rule.CONTEXTDELAYDM2: "ContextDelayDM2",
    Rule.MULTIDELAYDM: "MultiDelayDM",
    Rule.DMSGO: "DMSGo",
    Rule.DMSNOGO: "DMSNoGo",
    Rule.DMCGO: "DMCGo",
    Rule.DMCNOGO: "DMCNoGo",
}

#: Yang's training sampling weights (``train.py``: ``rule_prob_map = {'contextdm1': 5, 'contextdm2': 5}``).
YANG_WEIGHTS: dict[Rule, float] = {rule: 5.0 if rule in (Rule.CONTEXTDM1, Rule.CONTEXTDM2) else 1.0 for rule in RULES}

#: The 15 rules of Driscoll, Shenoy & Sussillo (2024, Nat Neurosci 27:1349), in their rule-input order (the
#: paper's order without the five non-delayed DM rules).
DRISCOLL_RULES: tuple[Rule, ...] = (
    Rule.FDGO,
    Rule.REACTGO,
    Rule.DELAYGO,
    Rule.FDANTI,
    Rule.REACTANTI,
    Rule.DELAYANTI,
    Rule.DELAYDM1,
    Rule.DELAYDM2,
    Rule.CONTEXTDELAYDM1,
    Rule.CONTEXTDELAYDM2,
    Rule.MULTIDELAYDM,
    Rule.DMSGO,
    Rule.DMSNOGO,
    Rule.DMCGO,
    Rule.DMCNOGO,
)

#: The four rules of Duncker, Driscoll et al. (2020, NeurIPS), in their sequential training order.
DUNCKER_RULES: tuple[Rule, ...] = (Rule.FDGO, Rule.FDANTI, Rule.DELAYGO, Rule.DELAYANTI)
