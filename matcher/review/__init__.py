"""Review layer: fusion, calibration, age plausibility, matching into candidates, decisions, audit."""
