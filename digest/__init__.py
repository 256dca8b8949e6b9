"""The fleet digest (`sru digest`): a period's numbers for the fleet and each department, rendered
once, delivered once per destination by email, Slack and webhook."""
