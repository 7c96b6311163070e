"""Operations: running the observatory's services (the Celery cluster of `make airflow-cluster`)."""
