"""Reading ``/metrics`` in tests, the way Prometheus does: the text format, parsed by prometheus_client's parser."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a labelled series not created yet (a counter nothing has counted)."""
    found = samples.get((name, frozenset(labels.items())))
    return 0.0 if found is None else found


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def scrape(base_url: str, token: str | None = None) -> Samples:
    """A real scrape of a running server (with ``Authorization: Bearer <token>`` when given)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{base_url}/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return parse(response.read().decode())
