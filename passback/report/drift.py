"""The run page's "Drift found in the SIS" section: what the district's last ``passback reconcile``
found edited or deleted in the SIS (``store.audit.drift_found``), in words."""

from __future__ import annotations

from typing import Any


def _value(value: Any) -> str:
    return "—" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def drift_words(finding: dict[str, Any]) -> str:
    """``score: passback sent 7, the SIS holds 9.5`` / ``deleted in the SIS``."""
    if finding["action"] == "deleted_in_sis":
        return "the SIS no longer holds it (deleted there); `passback reconcile ID --restore` re-sends it"
    parts = [
        f"{name}: passback sent {_value(sent)}, the SIS holds {_value(held)}"
        for name, (sent, held) in finding["changes"].items()
    ]
    return "; ".join(parts) + " (a teacher's edit: kept, never overwritten)"


SECTION = """
{% if drift %}<h2 id="drift">Drift found in the SIS</h2>
<p>What <span class="code">passback reconcile</span> last found changed in the SIS behind passback's back, and no
later write replaced ({{ "{:,}".format(drift_total) }} item(s); <span class="code">passback history ID ASSESSMENT</span> shows each item's timeline).</p>
<table><thead><tr><th>found (UTC)</th><th>kind</th><th>assessment</th><th>student</th><th>finding</th><th>what</th></tr></thead><tbody>
{% for d in drift %}<tr class="drift"><td>{{ (d.time|string)[:16] }}</td><td>{{ d.kind }}</td><td>{{ d.assessment_id }}</td><td>{{ d.student_id or "—" }}</td><td>{{ d.action.replace("_", " ") }}</td><td>{{ d.what }}</td></tr>{% endfor %}
</tbody></table>{% if drift_total > drift|length %}<p class="muted">… and {{ "{:,}".format(drift_total - drift|length) }} more: <span class="code">passback reconcile ID --json</span> lists them all.</p>{% endif %}{% endif %}
"""
