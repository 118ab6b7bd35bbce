"""The report's HTML templates (Jinja2 with autoescape on: every value from Otus, the SIS or a user
is escaped; only passback's own SVG is marked safe).  Self-contained pages: inline CSS, no scripts,
nothing loaded from the network."""

from __future__ import annotations

from passback.report.drift import SECTION as DRIFT_SECTION

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#212529;
  background:#fff;line-height:1.4;font-size:14px}
main{max-width:1280px;margin:0 auto;padding:12px 24px 48px}
header.bar{background:#343a40;color:#fff;padding:10px 24px}header.bar a{color:#fff}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #dee2e6}
h3{font-size:16px;margin:22px 0 4px}
table{border-collapse:collapse;margin:6px 0 12px;width:100%}
th,td{border:1px solid #dee2e6;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f1f3f5}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.status-completed,.status-planned{color:#2b8a3e}.status-failed,.status-abandoned{color:#c92a2a;font-weight:600}
.status-partial,.status-running{color:#e8590c}
.meaning{margin:2px 0}.fix{margin:2px 0 8px;color:#495057}.who{font-weight:600}
.code{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f1f3f5;padding:0 4px;border-radius:3px}
.value{color:#c92a2a;font-weight:600}.muted{color:#868e96}.pending{color:#1971c2}
.error{background:#fff5f5;border:1px solid #ffc9c9;padding:8px 12px;white-space:pre-wrap;word-break:break-word}
details>summary{cursor:pointer}td.students{padding:0 0 0 28px;background:#fcfcfd}
td.students table{margin:2px 0 6px;width:auto}
svg.trend{max-width:100%;height:auto;display:block;margin:8px 0}
"""

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %}</title><style>{{ css }}</style></head>
<body><header class="bar">{% block nav %}{% endblock %}</header><main>{% block main %}{% endblock %}</main></body></html>
"""

COUNTS = """
{% macro counts_table(summary) %}
<table class="counts"><thead><tr><th></th>{% for o in outcomes %}<th class="n">{{ o }}</th>{% endfor %}</tr></thead><tbody>
{% for label, key in [("lineItems (assessments)", "line_items"), ("results (scores)", "results")] %}
<tr><th>{{ label }}</th>{% for o in outcomes %}<td class="n">{{ "{:,}".format((summary.get(key) or {}).get(o, 0)) }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% endmacro %}
"""

RUN = (
    """{% extends "base.html" %}{% from "counts.html" import counts_table %}
{% block title %}{{ r.district }} — {{ r.kind_label }} {{ r.started_at }} — passback report{% endblock %}
{% block nav %}<a href="../../index.html">← all runs of {{ r.district }}</a> · <a href="../../../index.html">all districts</a>
{% if gx %} · <a href="gx/index.html">Great Expectations Data Docs of this run</a>{% if gx_reused %} <span class="muted">(the same validation results as run folder {{ gx_reused }}: its pages, kept here)</span>{% endif %}{% endif %}{% endblock %}
{% block main %}
<h1>District {{ r.district }} — {{ r.kind_label }}, {{ r.started_at }} UTC: <span class="status-{{ r.status }}">{{ r.status }}</span></h1>
<p class="muted">Run {{ r.run_id }}.{% if files %} Every row's outcome: {% for f in files %}<a href="{{ f }}">{{ f }}</a>{% if not loop.last %}, {% endif %}{% endfor %}
(or <span class="code">passback export {{ r.district }} --run {{ r.run_id }} --format csv --out FILE</span>).{% endif %}</p>
{% if r.summary.get("error") %}<h2>Error</h2><div class="error">{{ r.summary.error }}</div>{% endif %}
{{ counts_table(r.summary) }}
<p>Writes: {{ "{:,}".format(r.summary.get("writes", 0)) }}{% if r.summary.get("backlog") %}; backlog {{ "{:,}".format(r.summary.backlog) }} writes (the next run resumes them){% endif %}.</p>

<h2 id="changes">What changed since the previous run</h2>
{% if not r.changes or r.changes.previous_run is none %}<p class="muted">No earlier run with a report to compare with.</p>
{% else %}
<p>Compared with run <a href="{{ r.changes.previous_link }}">{{ r.changes.previous_run }}</a>:
<b>{{ r.changes.newly_held_total }}</b> assessments newly held back, <b>{{ r.changes.newly_passing_total }}</b> newly passing.</p>
{% if r.changes.newly_held %}<h3>Newly held back</h3><table><thead><tr><th>assessment</th><th>title</th><th>reason now</th><th>before</th></tr></thead><tbody>
{% for c in r.changes.newly_held %}<tr><td>{{ c.assessment_id }}</td><td>{{ c.title }}</td><td><a href="#{{ c.reason }}" class="code">{{ c.reason }}</a></td><td class="code">{{ c.was }}</td></tr>{% endfor %}
</tbody></table>{% if r.changes.newly_held_total > r.changes.newly_held|length %}<p class="muted">… and {{ r.changes.newly_held_total - r.changes.newly_held|length }} more (see the export).</p>{% endif %}{% endif %}
{% if r.changes.newly_passing %}<h3>Newly passing</h3><table><thead><tr><th>assessment</th><th>title</th><th>held back before by</th></tr></thead><tbody>
{% for c in r.changes.newly_passing %}<tr><td>{{ c.assessment_id }}</td><td>{{ c.title }}</td><td class="code">{{ c.was }}</td></tr>{% endfor %}
</tbody></table>{% if r.changes.newly_passing_total > r.changes.newly_passing|length %}<p class="muted">… and {{ r.changes.newly_passing_total - r.changes.newly_passing|length }} more.</p>{% endif %}{% endif %}
{% endif %}

<h2 id="reasons">Held back, by reason (in rule order)</h2>
{% if not r.sections %}<p>Nothing held back: every assessment and score passed the rules.</p>{% else %}
<table><thead><tr><th>reason</th><th>of</th><th>what it means</th><th>who fixes it</th><th class="n">rows</th><th class="n">assessments</th></tr></thead><tbody>
{% for s in r.sections %}<tr><td><a class="code" href="#{{ s.code }}">{{ s.code }}</a></td><td>{{ s.kind }}s</td><td>{{ s.meaning.meaning }}</td>
<td>{{ s.meaning.who_text }}</td><td class="n">{{ "{:,}".format(s.rows) }}</td><td class="n">{{ "{:,}".format(s.assessments) }}</td></tr>{% endfor %}
</tbody></table>
{% for s in r.sections %}
<section id="{{ s.code }}" class="reason" data-reason="{{ s.code }}" data-kind="{{ s.kind }}">
<h3><span class="code">{{ s.code }}</span> — {{ "{:,}".format(s.rows) }} {{ s.kind }}{{ "s" if s.rows != 1 }}{% if s.meaning.pending %} <span class="pending">(pending, not an error)</span>{% endif %}</h3>
<p class="meaning">{{ s.meaning.meaning }}</p>
<p class="fix"><span class="who">Who fixes it: {{ s.meaning.who_text }}.</span> {{ s.meaning.fix }}</p>
{% if s.by_parent %}<table style="width:auto"><thead><tr><th>the assessment's reason</th><th class="n">scores held back</th></tr></thead><tbody>
{% for code, n in s.by_parent.items() %}<tr><td><a class="code" href="#{{ code }}">{{ code }}</a></td><td class="n">{{ "{:,}".format(n) }}</td></tr>{% endfor %}</tbody></table>
{% elif s.kind == "assessment" %}
<table class="listing"><thead><tr><th>assessment</th><th>title</th><th>class (Otus / Skyward)</th><th>assigned by</th><th>assign</th><th>due</th><th>offending value</th><th class="n">scores held back</th></tr></thead><tbody>
{% for a in s.listed %}<tr data-assessment="{{ a.assessment_id }}"><td>{{ a.assessment_id }}</td><td>{{ a.title }}</td><td>{{ a.class_title }} <span class="muted">{{ a.class_id }} / {{ a.class_sis_id or "—" }}</span></td>
<td>{{ a.assigner_name }} <span class="muted">{{ a.assigned_by }}</span></td><td>{{ a.assign_date }}</td><td>{{ a.due_date }}</td><td class="value">{{ a.value }}</td><td class="n">{{ "{:,}".format(a.scores) }}</td></tr>{% endfor %}
</tbody></table>
{% else %}
<table class="listing"><thead><tr><th>assessment</th><th>title</th><th>class (Otus / Skyward)</th><th>assigned by</th><th>due</th><th>offending value</th><th class="n">scores</th></tr></thead><tbody>
{% for a in s.listed %}<tr data-assessment="{{ a.assessment_id }}"><td>{{ a.assessment_id }}</td><td>{{ a.title }}</td><td>{{ a.class_title }} <span class="muted">{{ a.class_id }} / {{ a.class_sis_id or "—" }}</span></td>
<td>{{ a.assigner_name }} <span class="muted">{{ a.assigned_by }}</span></td><td>{{ a.due_date }}</td><td class="value">{{ a.value }}</td><td class="n score-count">{{ "{:,}".format(a.scores) }}</td></tr>
<tr><td colspan="7" class="students"><details><summary>{{ "{:,}".format(a.scores) }} student{{ "s" if a.scores != 1 }}{% if a.scores > a.students|length %} ({{ a.students|length }} listed){% endif %}</summary>
<table><thead><tr><th>student (Otus)</th><th>Skyward id</th><th>name</th><th>value</th></tr></thead><tbody>
{% for st in a.students %}<tr><td>{{ st.student_id }}</td><td>{{ st.sis_id or "—" }}</td><td>{{ st.name }}</td><td>{{ st.value }}</td></tr>{% endfor %}
</tbody></table></details></td></tr>{% endfor %}
</tbody></table>
{% endif %}
{% if s.unlisted and not s.by_parent %}<p class="muted">… and {{ "{:,}".format(s.unlisted) }} more assessments under this reason: the export has every row.</p>{% endif %}
</section>
{% endfor %}{% endif %}
{% if r.summary.get("rejected") %}<h2 id="refused">Refused by the SIS</h2>
<table><thead><tr><th>kind</th><th>assessment</th><th>student</th><th>outcome</th><th>the SIS said</th></tr></thead><tbody>
{% for d in r.summary.rejected %}<tr><td>{{ d.kind }}</td><td>{{ d.assessment_id }}</td><td>{{ d.student_id }}</td><td>{{ d.outcome }}</td><td>{{ d.message }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% if r.summary.get("deletions") %}<h2 id="deleted">Deleted in the SIS (deletion policy: propagate)</h2>
<p>Assessments deleted in Otus whose lineItem the SIS held: their results, then the lineItem{% if r.status == "planned" %} — a dry run: what a sync would delete{% endif %}.</p>
<table><thead><tr><th>kind</th><th>assessment</th><th>student</th><th>outcome</th><th>note</th></tr></thead><tbody>
{% for d in r.summary.deletions %}<tr class="deletion"><td>{{ d.kind }}</td><td>{{ d.assessment_id }}</td><td>{{ d.student_id }}</td><td>{{ d.outcome }}</td><td>{{ d.message }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
"""
    + DRIFT_SECTION
    + """{% endblock %}
"""
)

FAILED = """{% extends "base.html" %}{% from "counts.html" import counts_table %}
{% block title %}{{ r.district }} — failed {{ r.started_at }} — passback report{% endblock %}
{% block nav %}<a href="../../index.html">← all runs of {{ r.district }}</a> · <a href="../../../index.html">all districts</a>{% endblock %}
{% block main %}
<h1>District {{ r.district }} — {{ r.kind_label }}, {{ r.started_at }} UTC: <span class="status-failed">failed</span></h1>
<h2>What happened</h2><div class="error">{{ r.summary.get("error") or "unknown error" }}</div>
<h2>What to do</h2><ul>{% for step in steps %}<li>{{ step }}</li>{% endfor %}</ul>
<h2>What the run did before it stopped</h2>{{ counts_table(r.summary) }}
<p>Writes acknowledged by the SIS before the failure: {{ "{:,}".format(r.summary.get("writes", 0)) }} (recorded in the ledger: the next run does not resend them).</p>
{% endblock %}
"""

DISTRICT = """{% extends "base.html" %}
{% block title %}{{ district }} — passback runs{% endblock %}
{% block nav %}<a href="../index.html">all districts</a>{% endblock %}
{% block main %}
<h1>District {{ district }} — validation reports</h1>
<p class="muted">{{ runs|length }} runs kept (the last {{ keep_runs }} runs or {{ keep_days }} days, whichever keeps more). Newest first.</p>
{% if charts %}<h2>Trend</h2>{% for c in charts %}{{ c }}{% endfor %}{% endif %}
<h2>Runs</h2>
<table id="runs"><thead><tr><th>started (UTC)</th><th>kind</th><th>status</th><th class="n">writes</th><th class="n">lineItems created / updated</th>
<th class="n">results created / updated</th><th class="n">held back (rows)</th><th>top reasons</th><th>report</th></tr></thead><tbody>
{% for run in runs %}<tr class="run" data-run="{{ run.id }}"><td>{{ run.started }}</td><td>{{ run.kind_label }}</td><td class="status-{{ run.status }}">{{ run.status }}{% if run.decision %}<div class="muted">{{ run.decision }}</div>{% endif %}</td>
<td class="n">{{ "{:,}".format(run.writes) }}</td><td class="n">{{ run.li }}</td><td class="n">{{ run.res }}</td><td class="n">{{ "{:,}".format(run.held) }}</td>
<td>{% for code, n in run.top %}<span class="code">{{ code }}</span> {{ "{:,}".format(n) }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
<td>{% if run.link %}<a href="{{ run.link }}">{{ "error and what to do" if run.status == "failed" else "report" }}</a>{% elif run.error %}<span class="status-failed">{{ run.error }}</span>{% else %}<span class="muted">—</span>{% endif %}</td></tr>{% endfor %}
</tbody></table>
{% endblock %}
"""

ROOT = """{% extends "base.html" %}
{% block title %}passback — validation reports{% endblock %}
{% block nav %}passback — validation reports{% endblock %}
{% block main %}
<h1>Districts</h1>
<table><thead><tr><th>district</th><th>last run (UTC)</th><th>kind</th><th>status</th><th class="n">held back (rows)</th></tr></thead><tbody>
{% for d in districts %}<tr><td><a href="{{ d.link }}">{{ d.district }}</a></td><td>{{ d.started }}</td><td>{{ d.kind_label }}</td>
<td class="status-{{ d.status }}">{{ d.status }}</td><td class="n">{{ "{:,}".format(d.held) }}</td></tr>{% endfor %}
</tbody></table>
{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "counts.html": COUNTS,
    "run.html": RUN,
    "failed.html": FAILED,
    "district.html": DISTRICT,
    "root.html": ROOT,
}
