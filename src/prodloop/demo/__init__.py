"""Everything needed to see prodloop work without a real provider: a fake upstream, a
traffic generator and the launch rehearsal `prodloop demo` runs."""
