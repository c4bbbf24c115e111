"""Merging hits whose text is shared: boilerplate of sibling APIs vs the same text indexed twice."""

from __future__ import annotations

from core.workflow.merge import shortlist


def _hit(location: str, score: float, text: str, chunk: int = 0) -> dict:
    doc_id = f"{location}~{chunk}" if chunk else location
    return {
        "source": "s",
        "doc_id": doc_id,
        "title": location,
        "location": location,
        "text": text,
        "score": score,
    }


def test_boilerplate_in_later_chunks_of_sibling_apis_stays_apart() -> None:
    params = "label : str A short label explaining to the user what this widget is for. " * 3
    slider = _hit("st.SliderMixin.slider", 0.8, params, chunk=1)
    toggle = _hit("st.CheckboxMixin.toggle", 0.7, params, chunk=1)
    alias = _hit("st.slider", 0.6, params, chunk=1)
    out = shortlist([slider, toggle, alias], 5)
    assert [h["location"] for h in out] == ["st.SliderMixin.slider", "st.CheckboxMixin.toggle"]
    assert out[0]["also_in"] == ["st.slider"]  # the same method under its public name


def test_two_one_line_sections_with_the_same_words_are_one_finding() -> None:
    a = _hit("prometheus.txt#name", 0.5, "prometheus - The Prometheus monitoring server")
    b = _hit("prometheus.txt#description", 0.4, "The Prometheus monitoring server")
    assert [h["also_in"] for h in shortlist([a, b], 5)] == [["prometheus.txt#description"]]
