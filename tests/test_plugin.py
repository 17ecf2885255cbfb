"""The plugin loads, disables and registers itself the ways pytest users expect."""

from __future__ import annotations

import pytest

USES_CLOCK = """
import time

def test_virtual_sleep(clock):
    time.sleep(3600)
    assert clock.monotonic() == 3600
"""


def test_loads_with_p_and_autoload_on(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_CLOCK)
    result = pytester.runpytest_subprocess("-p", "apiharness")
    result.assert_outcomes(passed=1)


def test_autoload_loads_it_through_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_CLOCK)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_loads_with_env_var_autoload_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(USES_CLOCK)
    without = pytester.runpytest_subprocess()
    without.stdout.fnmatch_lines(["*fixture 'clock' not found*"])
    result = pytester.runpytest_subprocess("-p", "apiharness")
    result.assert_outcomes(passed=1)


def test_loads_with_flag_autoload_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_CLOCK)
    without = pytester.runpytest_subprocess("--disable-plugin-autoload")
    without.stdout.fnmatch_lines(["*fixture 'clock' not found*"])
    result = pytester.runpytest_subprocess("--disable-plugin-autoload", "-p", "apiharness")
    result.assert_outcomes(passed=1)


def test_p_no_disables_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USES_CLOCK)
    result = pytester.runpytest_subprocess("-p", "no:apiharness")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'clock' not found*"])


def test_option_group_in_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-p", "apiharness", "--help")
    result.stdout.fnmatch_lines(
        ["apiharness: API mocking and contract testing:", "*--apiharness-seed=INT*"]
    )


def test_markers_registered_and_strict_clean(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.upstream()
        def test_declared():
            pass

        @pytest.mark.apiharness_real_time
        def test_real_time():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "apiharness", "--strict-markers")
    result.assert_outcomes(passed=2)
    markers = pytester.runpytest_subprocess("-p", "apiharness", "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.upstream(*routes, **options):*"])
    markers.stdout.fnmatch_lines(["@pytest.mark.apiharness_real_time:*"])


def test_bad_seed_is_a_clear_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("-p", "apiharness", "--apiharness-seed=abc")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--apiharness-seed must be an integer, got 'abc'*"])


def test_clock_fixture_refuses_real_time_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.apiharness_real_time
        def test_both(clock):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "apiharness")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*marked apiharness_real_time but asks for the `clock` fixture*"])


def test_namespaced_fixtures_reach_ours_when_a_project_shadows_the_short_names(
    pytester: pytest.Pytester,
) -> None:
    # A project with fixtures of its own called `upstream` and `clock` (a common name for a
    # staging URL or a freezegun wrapper) shadows ours; the apiharness_* names still work.
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def upstream():
            return "the project's own upstream"

        @pytest.fixture
        def clock():
            return "the project's own clock"
        """
    )
    pytester.makepyfile(
        """
        import time

        import httpx
        import pytest
        from apiharness import VirtualClock
        from apiharness.upstream import Upstream, respond

        def test_short_names_are_the_projects(upstream, clock):
            assert (upstream, clock) == ("the project's own upstream", "the project's own clock")

        @pytest.mark.upstream({"GET /x": respond(200, json=1)})
        def test_namespaced_names_are_ours(apiharness_upstream, apiharness_clock):
            assert isinstance(apiharness_upstream, Upstream)
            assert isinstance(apiharness_clock, VirtualClock)
            time.sleep(60)
            assert apiharness_clock.monotonic() == 60
            up = apiharness_upstream
            http = httpx.Client(transport=up, base_url=up.base_url)
            assert http.get("/x").json() == 1

        def test_the_namespaced_upstream_fails_at_teardown_like_ours(apiharness_upstream):
            apiharness_upstream.get("/never", expect=1).respond(respond(200))

        def test_every_short_fixture_has_a_namespaced_twin(
            apiharness_upstream_server, apiharness_oauth_server, apiharness_webhook_sender
        ):
            assert apiharness_upstream_server.base_url.startswith("http://127.0.0.1:")
            assert apiharness_oauth_server.upstream is not None
            assert callable(apiharness_webhook_sender)
        """
    )
    result = pytester.runpytest_subprocess("-p", "apiharness")
    # The teardown test passes its call and errors at teardown (the unmet expect=1).
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_the_namespaced_upstream_fails*"])


def test_short_and_namespaced_names_are_one_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_same(upstream, apiharness_upstream, clock, apiharness_clock):
            assert upstream is apiharness_upstream
            assert clock is apiharness_clock
        """
    )
    pytester.runpytest_subprocess("-p", "apiharness").assert_outcomes(passed=1)
