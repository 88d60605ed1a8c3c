"""The demo's conversations: what each framework is asked, and how the scripted model answers.

Each framework has its own model name, and its rules match only that name, so one scripted
provider serves all three. The rules never use ``turn`` (a turn's depth in its chain): the stock
baseline sends every call as a new chain, and must get the same answers as interstate's chained
calls for the two runs to be the same conversation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Script:
    """One framework's part: the scripted model's name, the inputs of each process, the rules."""

    model: str
    #: What the first process asks (LangGraph messages, AutoGen tasks; CrewAI kickoff inputs).
    first: tuple[str, ...]
    #: What the resumed process asks, continuing the state the first one left on the server.
    resumed: tuple[str, ...]
    rules: tuple[dict[str, Any], ...]

    def scoped_rules(self) -> list[dict[str, Any]]:
        """The rules, each restricted to this script's model."""
        return [{**rule, "when": {**rule["when"], "model": self.model}} for rule in self.rules]


def _calls(name: str, **arguments: Any) -> dict[str, Any]:
    return {"function_calls": [{"name": name, "arguments": arguments}]}


LANGGRAPH = Script(
    model="scripted-demo-langgraph",
    first=("What's the weather in Paris?", "Should I pack an umbrella?",
           "Plan a rainy-day backup for the afternoon, just in case."),
    resumed=("And in Fahrenheit?", "Summarise the day in two sentences."),
    rules=(
        {"when": {"contains": "weather", "after": "user_input"}, "reply": _calls("get_weather", city="Paris")},
        {"when": {"contains": "weather", "after": "function_result"},
         "reply": {"text": "It is {result} in Paris right now, with a light breeze from the west and "
                           "no rain expected before the evening."}},
        {"when": {"contains": "umbrella"},
         "reply": {"text": "No umbrella needed: it is sunny in Paris and the forecast keeps it dry "
                           "until late evening. A light jacket is enough if you stay out after "
                           "sunset, when it cools down to about 15 degrees C."}},
        {"when": {"contains": "backup"},
         "reply": {"text": "Rainy-day backup: start at the Musee d'Orsay (book a 14:00 slot online "
                           "to skip the queue), walk through the covered Passage des Panoramas to "
                           "the Galeries Lafayette rooftop, which has a glass canopy, and finish "
                           "with tea at a salon in the Marais. Every stop is within a short metro "
                           "ride of the next, so you stay dry between them."}},
        {"when": {"contains": "Fahrenheit", "after": "user_input"}, "reply": _calls("to_fahrenheit", celsius=21)},
        {"when": {"contains": "Fahrenheit", "after": "function_result"},
         "reply": {"text": "That is {result} degrees Fahrenheit: warm enough for a T-shirt in the "
                           "sun, a little cooler in the shade of the old streets."}},
        {"when": {"contains": "Summarise"},
         "reply": {"text": "Paris is sunny and 21 degrees C (about 70 degrees F) today, so leave the "
                           "umbrella at home and take a light jacket for the evening. If the "
                           "forecast turns, the Orsay, the Passage des Panoramas and a Marais tea "
                           "salon make a dry afternoon."}},
    ),
)  # fmt: skip

AUTOGEN = Script(
    model="scripted-demo-autogen",
    first=("What is the population of Lisbon?", "Now compare it with Porto."),
    resumed=("Which of the two grew faster since 2011?", "Write a two-sentence summary for a travel guide."),
    rules=(
        # the researcher (offered its tool): a lookup, or notes from what it already found
        {"when": {"tool": "get_population", "after": "user_input", "contains": "grew"},
         "reply": {"text": "GROWTH NOTES: between the 2011 and 2021 censuses the municipality of "
                           "Lisbon grew by about 0.5 percent while Porto lost about 2.3 percent of "
                           "its residents; both metropolitan areas grew slightly, driven by the "
                           "suburbs rather than the historic centres."}},
        {"when": {"tool": "get_population", "after": "user_input", "contains": "summary"},
         "reply": {"text": "SUMMARY NOTES: Lisbon, the capital, has about 545,000 residents in the "
                           "city proper and is growing slowly; Porto, the northern port city, has "
                           "about 232,000 and is shrinking slightly in its centre."}},
        {"when": {"tool": "get_population", "after": "user_input", "contains": "Porto"},
         "reply": _calls("get_population", city="Porto")},
        {"when": {"tool": "get_population", "after": "user_input", "contains": "population"},
         "reply": _calls("get_population", city="Lisbon")},
        {"when": {"after": "function_result"},
         "reply": {"text": "Found: {result}. Source: the 2021 census of Statistics Portugal, for "
                           "the municipality proper; the metropolitan area is several times larger."}},
        # the writer: an answer from the researcher's latest message
        {"when": {"contains": "GROWTH NOTES"},
         "reply": {"text": "Lisbon grew slightly faster: its centre gained about half a percent "
                           "between 2011 and 2021, while Porto's lost over two percent. TERMINATE"}},
        {"when": {"contains": "SUMMARY NOTES"},
         "reply": {"text": "Lisbon, Portugal's growing capital of about 545,000 people, pairs "
                           "hilltop views with a lively riverfront. Porto, smaller at about 232,000, "
                           "rewards visitors with its port cellars and azulejo-covered churches. "
                           "TERMINATE"}},
        {"when": {"contains": "Porto"},
         "reply": {"text": "Lisbon has more than twice the people of Porto: about 545,000 against "
                           "232,000 in the cities proper. TERMINATE"}},
        {"when": {}, "reply": {"text": "Lisbon, Portugal's capital, has about 545,000 people in the "
                                       "city proper. TERMINATE"}},
    ),
)  # fmt: skip

CREWAI_FACT = "The capital of France is Paris."

#: CrewAI's memory asks the agents' model to extract, analyse and consolidate what to remember;
#: the first three rules give the JSON its schemas ask for.
CREWAI = Script(
    model="scripted-demo-crewai",
    first=("France",),
    resumed=("France",),
    rules=(
        {"when": {"contains": "Extract memory statements"},
         "reply": {"text": json.dumps({"memories": [CREWAI_FACT]})}},
        {"when": {"contains": "Content to store:"},
         "reply": {"text": json.dumps({"suggested_scope": "/geography", "categories": ["geography"],
                                       "importance": 0.8, "extracted_metadata": {
                                           "entities": ["France", "Paris"], "dates": [],
                                           "topics": ["capitals"]}})}},
        {"when": {"contains": "New content to consider storing"},
         "reply": {"text": json.dumps({"actions": [], "insert_new": False,
                                       "insert_reason": "already remembered"})}},
        {"when": {"tool": "lookup_fact", "after": "user_input"}, "reply": _calls("lookup_fact", topic="France")},
        {"when": {"after": "function_result"}, "reply": {"text": "Research: {result}"}},
        {"when": {}, "reply": {"text": "Report: Paris is the capital of France."}},
    ),
)  # fmt: skip

SCRIPTS = {"langgraph": LANGGRAPH, "autogen": AUTOGEN, "crewai": CREWAI}


def all_rules() -> list[dict[str, Any]]:
    """The scripted provider's rules for the whole demo."""
    return [rule for script in SCRIPTS.values() for rule in script.scoped_rules()]
