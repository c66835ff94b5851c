"""Alert engine: rules as data, the pure evaluator, AQI, feeds, scheduler jobs."""
