"""The remote ``/flags`` fallback for flags local evaluation cannot decide."""
