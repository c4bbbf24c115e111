"""Model calls: Pydantic AI agents with typed outputs, the offline model, emulated provider latency.

>>> from core.llm import Agents
>>> Agents().model_name
'offline'
"""

from core.llm.agents import AgentCall, Agents
from core.llm.outputs import KeyTerms, RelevanceScores, Summary

__all__ = ["AgentCall", "Agents", "KeyTerms", "RelevanceScores", "Summary"]
