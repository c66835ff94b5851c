"""The incident workflow: state machine, routing, deadlines and cards, KPIs."""
