"""The Otus source: the contract's tables (``models``), reading one district into typed frames
(``read``), and synthetic worlds for the demo, tests and benchmarks (``generate``).  See docs/source.md."""
