import re

import pytest

from craft_jobs.errors import OptionsError
from craft_jobs.options import Mode, load_options


def test_defaults_match_the_seed():
    options = load_options()
    assert (options.worker_count, options.max_retry_attempts, options.job_expiration_days) == (20, 3, 7)
    assert options.schema_name == "craft_jobs" and options.dashboard_path == "/jobs"
    assert options.polling_interval_seconds == 15 and options.enable_automatic_retry
    assert not options.enable_multi_tenancy and not options.enable_detailed_logging
    # A lost engine's jobs are rescued about 10 s after its last heartbeat.
    assert (options.heartbeat_interval_seconds, options.server_timeout_seconds, options.cancel_grace_seconds) == (2, 10, 10)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("worker_count", 0, "CRAFT_JOBS_WORKER_COUNT (worker_count): 0 is out of range 1-100"),
        ("worker_count", 101, "out of range 1-100"),
        ("max_retry_attempts", 11, "CRAFT_JOBS_MAX_RETRY_ATTEMPTS (max_retry_attempts): 11 is out of range 0-10"),
        ("job_expiration_days", 0, "out of range 1-365"),
        ("polling_interval_seconds", 61, "out of range 1-60"),
        ("tenant_headroom_slots", -1, "CRAFT_JOBS_TENANT_HEADROOM_SLOTS (tenant_headroom_slots): -1 is out of range 0-100"),
        ("schema_name", "jobs; DROP TABLE x", "must be a lower-case SQL identifier"),
        ("schema_name", "Upper", "CRAFT_JOBS_SCHEMA_NAME"),
        ("dashboard_path", "jobs", "must start with /"),
        ("heartbeat_interval_seconds", 0.5, "CRAFT_JOBS_HEARTBEAT_INTERVAL_SECONDS (heartbeat_interval_seconds): 0.5 is out of range 1-60"),
        ("server_timeout_seconds", 4, "CRAFT_JOBS_SERVER_TIMEOUT_SECONDS (server_timeout_seconds): 4 is out of range 5-600"),
        ("server_timeout_seconds", 601, "out of range 5-600"),
        ("cancel_grace_seconds", -1, "CRAFT_JOBS_CANCEL_GRACE_SECONDS (cancel_grace_seconds): -1 is out of range 0-600"),
        ("database_connect_timeout_seconds", 0, "CRAFT_JOBS_DATABASE_CONNECT_TIMEOUT_SECONDS (database_connect_timeout_seconds): 0 is out of range 1-60"),
        ("database_statement_timeout_seconds", 3601, "out of range 1-3600"),
    ],
)
def test_out_of_range_values_name_the_option(option, value, expected):
    with pytest.raises(OptionsError) as raised:
        load_options(**{option: value})
    assert expected in str(raised.value)


def test_the_server_timeout_must_leave_room_for_three_heartbeats():
    with pytest.raises(OptionsError) as raised:
        load_options(heartbeat_interval_seconds=5, server_timeout_seconds=14)
    assert str(raised.value).startswith("CRAFT_JOBS_SERVER_TIMEOUT_SECONDS (server_timeout_seconds): ")
    assert "14 must be at least 3 times heartbeat_interval_seconds (5)" in str(raised.value)
    assert load_options(heartbeat_interval_seconds=5, server_timeout_seconds=15).server_timeout_seconds == 15


def test_environment_variables_are_read_and_checked(monkeypatch):
    monkeypatch.setenv("CRAFT_JOBS_WORKER_COUNT", "7")
    monkeypatch.setenv("CRAFT_JOBS_JOB_MODULES", "a.jobs, b.jobs")
    options = load_options()
    assert options.worker_count == 7 and options.job_modules == ["a.jobs", "b.jobs"]
    monkeypatch.setenv("CRAFT_JOBS_WORKER_COUNT", "lots")
    with pytest.raises(OptionsError, match="CRAFT_JOBS_WORKER_COUNT"):
        load_options()


def test_cluster_mode_requires_a_connection_string():
    with pytest.raises(OptionsError, match="CRAFT_JOBS_CONNECTION_STRING .* is required in cluster mode"):
        load_options(mode=Mode.CLUSTER)
    assert load_options(mode="cluster", connection_string="postgresql://db/jobs").mode is Mode.CLUSTER


def test_unknown_option_is_refused():
    with pytest.raises(OptionsError, match="is not a known option"):
        load_options(wrker_count=3)


# ---------------------------------------------------------------- the options file

SEED_APPSETTINGS = """{
  "Logging": {"LogLevel": {"Default": "Information"}},
  "JobOptions": {
    "ConnectionString": "Host=localhost;Port=5432;Database=CraftJobs;Username=postgres;Password=password",
    "EnableDashboard": true, "DashboardPath": "/hangfire", "WorkerCount": 20, "MaxRetryAttempts": 3,
    "EnableAutomaticRetry": true, "JobExpirationDays": 7, "EnableMultiTenancy": false,
    "SchemaName": "hangfire", "PollingIntervalSeconds": 15, "EnableDetailedLogging": true
  }
}"""


def _config(monkeypatch, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    monkeypatch.setenv("CRAFT_JOBS_CONFIG_FILE", str(path))
    return path


def test_the_seeds_appsettings_section_is_read(monkeypatch, tmp_path):
    _config(monkeypatch, tmp_path, "appsettings.json", SEED_APPSETTINGS)
    options = load_options()
    assert options.connection_string == "host=localhost port=5432 dbname=CraftJobs user=postgres password=password"
    assert (options.schema_name, options.dashboard_path, options.enable_detailed_logging) == ("hangfire", "/hangfire", True)


def test_yaml_with_our_names_and_the_environment_and_arguments_win(monkeypatch, tmp_path):
    _config(monkeypatch, tmp_path, "jobs.yaml", "worker_count: 7\nMaxRetryAttempts: 5\njob_expiration_days: 30\n")
    monkeypatch.setenv("CRAFT_JOBS_MAX_RETRY_ATTEMPTS", "1")
    options = load_options(job_expiration_days=2)
    assert (options.worker_count, options.max_retry_attempts, options.job_expiration_days) == (7, 1, 2)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.json", '{"JobOptions": {"WorkerCount": 500}}', "WorkerCount in {path} (worker_count): 500 is out of range 1-100"),
        ("a.yaml", "SchemaName: Bad-Name\n", "SchemaName in {path} (schema_name): 'Bad-Name': must be a lower-case SQL identifier"),
        ("a.json", '{"JobOptions": {"WorkerCont": 5}}', "WorkerCont in {path}: is not a known option"),
        ("a.yaml", "worker_count: 5\nWorkerCount: 6\n", "WorkerCount in {path}: sets worker_count a second time (as worker_count)"),
        ("a.json", '{"JobOptions": ', "CRAFT_JOBS_CONFIG_FILE ({path}): is not valid JSON"),
        ("a.yaml", "- 1\n- 2\n", "CRAFT_JOBS_CONFIG_FILE ({path}): must be a mapping of option names to values, got list"),
        ("a.json", '{"JobOptions": {"ConnectionString": "Host=h;Colour=x"}}',
         "ConnectionString in {path} (connection_string): unknown key 'Colour'"),
    ],
)
def test_each_wrong_value_in_the_file_is_named_with_the_file(monkeypatch, tmp_path, name, text, expected):
    path = _config(monkeypatch, tmp_path, name, text)
    with pytest.raises(OptionsError) as raised:
        load_options()
    assert expected.format(path=path) in str(raised.value)


def test_a_missing_options_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("CRAFT_JOBS_CONFIG_FILE", str(tmp_path / "nowhere.json"))
    with pytest.raises(OptionsError, match=r"CRAFT_JOBS_CONFIG_FILE \(.*nowhere.json\): cannot be read"):
        load_options()


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("tests.support.filters", "'tests.support.filters' is not of the form package.module:Name"),
        ("tests.support.no_such_module:StampFilter", "cannot import tests.support.no_such_module: ModuleNotFoundError"),
        ("tests.support.filters:Missing", "tests.support.filters has no Missing"),
        ("tests.support.filters:NOT_A_FILTER", "is not a craft_jobs.client.ClientFilter subclass or instance"),
    ],
)
def test_a_client_filter_that_cannot_be_used_is_named(monkeypatch, path, fragment):
    monkeypatch.setenv("CRAFT_JOBS_CLIENT_FILTERS", f"tests.support.filters:StampFilter, {path}")
    with pytest.raises(OptionsError) as raised:
        load_options()
    assert str(raised.value).startswith("CRAFT_JOBS_CLIENT_FILTERS (client_filters): ")
    assert fragment in str(raised.value)


def test_client_filters_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRAFT_JOBS_CLIENT_FILTERS", "tests.support.filters:StampFilter")
    assert load_options().client_filters == ["tests.support.filters:StampFilter"]


def test_tenant_concurrency_limits_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRAFT_JOBS_TENANT_CONCURRENCY_LIMIT", "3")
    monkeypatch.setenv("CRAFT_JOBS_TENANT_CONCURRENCY_LIMITS", "acme=10, globex=0")
    options = load_options()
    assert (options.tenant_limit("acme"), options.tenant_limit("globex"), options.tenant_limit("other")) == (10, 0, 3)
    assert options.limits_concurrency


def test_no_tenant_limit_by_default():
    options = load_options()
    assert not options.limits_concurrency and options.tenant_limit("acme") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme", "CRAFT_JOBS_TENANT_CONCURRENCY_LIMITS (tenant_concurrency_limits): 'acme': 'acme' is not tenant=limit"),
        ("acme=five", "'acme=five' is not tenant=limit"),
        ("acme=-1", "'acme=-1' is not tenant=limit"),
        ("acme=100001", "the limit of tenant 'acme', 100001, is out of range 0-100000"),
        ("=3", "'=3' is not tenant=limit"),
        ("*=3", "'*' is not a tenant name; tenant_concurrency_limit sets the default"),
    ],
)
def test_a_wrong_tenant_limit_is_named(monkeypatch, value, expected):
    monkeypatch.setenv("CRAFT_JOBS_TENANT_CONCURRENCY_LIMITS", value)
    with pytest.raises(OptionsError, match=re.escape(expected)):
        load_options()


def test_queue_concurrency_limits_are_read_and_checked(monkeypatch):
    monkeypatch.setenv("CRAFT_JOBS_QUEUE_CONCURRENCY_LIMITS", "emails=5")
    options = load_options()
    assert options.queue_concurrency_limits == {"emails": 5} and options.limits_concurrency
    monkeypatch.setenv("CRAFT_JOBS_QUEUE_CONCURRENCY_LIMITS", "emails")
    with pytest.raises(OptionsError, match=re.escape("'emails' is not queue=limit (for example emails=5)")):
        load_options()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ftp://api", "must be an http:// or https:// URL"), ("http://api.jobs.svc/api", "give the base URL, without /api"),
     ("api.jobs.svc", "must be an http:// or https:// URL")],
)
def test_a_wrong_job_api_url_is_named(value, expected):
    with pytest.raises(OptionsError, match=re.escape(f"CRAFT_JOBS_JOB_API_URL (job_api_url): {value!r}: {expected}")):
        load_options(job_api_url=value)


def test_the_job_api_url_loses_its_trailing_slash():
    assert load_options(job_api_url="http://127.0.0.1:8080/").job_api_url == "http://127.0.0.1:8080"
    assert load_options().job_api_url is None
