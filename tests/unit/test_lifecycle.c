/* The lifecycle's transitions, with time passed in by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>

#include "config.h"
#include "lifecycle.h"

static struct ld_config
cfg_with(long long delay, long long drain)
{
	struct ld_config c;

	ld_config_defaults(&c);
	c.delay_ms = delay;
	c.drain_timeout_ms = drain;
	return c;
}

static void
starts_starting_and_not_ready(void **state)
{
	struct ld_config c = cfg_with(10000, 15000);
	struct ld_lifecycle lc;

	(void)state;
	ld_lc_init(&lc, &c, 100);
	assert_int_equal(lc.state, LD_ST_STARTING);
	assert_false(ld_lc_is_ready(&lc));
	assert_int_equal(ld_lc_timeout(&lc, 100), -1);
	assert_int_equal(ld_lc_tick(&lc, 100000, 0), LD_ACT_NONE);
	ld_lc_ready(&lc, 200);
	assert_int_equal(lc.state, LD_ST_SERVING);
	assert_true(ld_lc_is_ready(&lc));
}

static void
signal_while_starting_delivers_at_once(void **state)
{
	struct ld_config c = cfg_with(10000, 15000);
	struct ld_lifecycle lc;

	(void)state;
	ld_lc_init(&lc, &c, 0);
	assert_int_equal(ld_lc_signal(&lc, SIGTERM, SIGQUIT, 0, 5), LD_ACT_DELIVER);
	assert_int_equal(lc.sig, SIGTERM);
	assert_int_equal(lc.deliver, SIGQUIT);
	assert_int_equal(lc.signals, 1);
	ld_lc_delivered(&lc, 5);
	assert_int_equal(lc.state, LD_ST_DELIVERED);
	assert_false(ld_lc_is_ready(&lc));
}

static void
delay_then_deliver_without_drain(void **state)
{
	struct ld_config c = cfg_with(10000, 15000);
	struct ld_lifecycle lc;

	(void)state;
	ld_lc_init(&lc, &c, 0);
	ld_lc_ready(&lc, 50);
	assert_int_equal(ld_lc_signal(&lc, SIGTERM, SIGTERM, 0, 1000), LD_ACT_LAMEDUCK);
	assert_int_equal(lc.state, LD_ST_LAMEDUCK);
	assert_false(ld_lc_is_ready(&lc));
	assert_int_equal(ld_lc_timeout(&lc, 1000), 10000);
	assert_int_equal(ld_lc_timeout(&lc, 4000), 7000);
	assert_int_equal(ld_lc_tick(&lc, 10999, 0), LD_ACT_NONE);
	assert_int_equal(ld_lc_tick(&lc, 11000, 0), LD_ACT_DELIVER);
	ld_lc_delivered(&lc, 11000);
	assert_int_equal(ld_lc_timeout(&lc, 11000), -1);
	/* A signal after delivery is not ours. */
	assert_int_equal(ld_lc_signal(&lc, SIGTERM, SIGTERM, 0, 12000), LD_ACT_NONE);
}

static void
delay_then_drain_then_deliver(void **state)
{
	struct ld_config c = cfg_with(1000, 5000);
	struct ld_lifecycle lc;

	(void)state;
	ld_lc_init(&lc, &c, 0);
	ld_lc_ready(&lc, 0);
	assert_int_equal(ld_lc_signal(&lc, SIGTERM, SIGTERM, 1, 0), LD_ACT_LAMEDUCK);
	assert_int_equal(ld_lc_tick(&lc, 1000, 3), LD_ACT_DRAIN);
	assert_int_equal(lc.state, LD_ST_DRAINING);
	assert_int_equal(ld_lc_tick(&lc, 2000, 2), LD_ACT_NONE);
	assert_int_equal(ld_lc_tick(&lc, 2500, 0), LD_ACT_DELIVER);
}

static void
drain_ends_at_timeout(void **state)
{
	struct ld_config c = cfg_with(0, 5000);
	struct ld_lifecycle lc;

	(void)state;
	ld_lc_init(&lc, &c, 0);
	ld_lc_ready(&lc, 0);
	assert_int_equal(ld_lc_signal(&lc, SIGTERM, SIGTERM, 1, 100), LD_ACT_LAMEDUCK);
	assert_int_equal(ld_lc_tick(&lc, 100, 1), LD_ACT_DRAIN);
	assert_int_equal(ld_lc_timeout(&lc, 100), 5000);
	assert_int_equal(ld_lc_tick(&lc, 5099, 1), LD_ACT_NONE);
	assert_int_equal(ld_lc_tick(&lc, 5100, 1), LD_ACT_DELIVER);
}

static void
second_signal_skips_the_rest(void **state)
{
	struct ld_config c = cfg_with(30000, 15000);
	struct ld_lifecycle lc;

	(void)state;
	ld_lc_init(&lc, &c, 0);
	ld_lc_ready(&lc, 0);
	assert_int_equal(ld_lc_signal(&lc, SIGTERM, SIGQUIT, 0, 0), LD_ACT_LAMEDUCK);
	assert_int_equal(ld_lc_signal(&lc, SIGINT, SIGINT, 0, 10), LD_ACT_DELIVER);
	/* The first signal's delivery stands. */
	assert_int_equal(lc.sig, SIGTERM);
	assert_int_equal(lc.deliver, SIGQUIT);
	assert_int_equal(lc.signals, 2);
}

static void
second_signal_during_drain(void **state)
{
	struct ld_config c = cfg_with(0, 15000);
	struct ld_lifecycle lc;

	(void)state;
	ld_lc_init(&lc, &c, 0);
	ld_lc_ready(&lc, 0);
	ld_lc_signal(&lc, SIGTERM, SIGTERM, 1, 0);
	assert_int_equal(ld_lc_tick(&lc, 0, 1), LD_ACT_DRAIN);
	assert_int_equal(ld_lc_signal(&lc, SIGTERM, SIGTERM, 1, 50), LD_ACT_DELIVER);
}

static void
seconds_in_each_phase(void **state)
{
	struct ld_config c = cfg_with(2000, 15000);
	struct ld_lifecycle lc;

	(void)state;
	ld_lc_init(&lc, &c, 1000);
	ld_lc_ready(&lc, 1500);
	ld_lc_signal(&lc, SIGTERM, SIGTERM, 0, 4000);
	assert_true(ld_lc_seconds_in(&lc, LD_ST_STARTING, 9999) == 0.5);
	assert_true(ld_lc_seconds_in(&lc, LD_ST_SERVING, 9999) == 2.5);
	assert_true(ld_lc_seconds_in(&lc, LD_ST_LAMEDUCK, 5000) == 1.0);
	assert_true(ld_lc_seconds_in(&lc, LD_ST_DRAINING, 5000) == 0.0);
	assert_int_equal(ld_lc_tick(&lc, 6000, 0), LD_ACT_DELIVER);
	ld_lc_delivered(&lc, 6000);
	assert_true(ld_lc_seconds_in(&lc, LD_ST_LAMEDUCK, 9000) == 2.0);
	assert_string_equal(ld_lc_state_name(LD_ST_LAMEDUCK), "lameduck");
	assert_string_equal(ld_lc_state_name(LD_ST_DRAINING), "draining");
}

static void
ready_only_from_starting(void **state)
{
	struct ld_config c = cfg_with(1000, 1000);
	struct ld_lifecycle lc;

	(void)state;
	ld_lc_init(&lc, &c, 0);
	ld_lc_ready(&lc, 0);
	ld_lc_signal(&lc, SIGTERM, SIGTERM, 0, 0);
	ld_lc_ready(&lc, 10);	/* a late listener must not make it ready again */
	assert_int_equal(lc.state, LD_ST_LAMEDUCK);
	assert_false(ld_lc_is_ready(&lc));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(starts_starting_and_not_ready),
		cmocka_unit_test(signal_while_starting_delivers_at_once),
		cmocka_unit_test(delay_then_deliver_without_drain),
		cmocka_unit_test(delay_then_drain_then_deliver),
		cmocka_unit_test(drain_ends_at_timeout),
		cmocka_unit_test(second_signal_skips_the_rest),
		cmocka_unit_test(second_signal_during_drain),
		cmocka_unit_test(seconds_in_each_phase),
		cmocka_unit_test(ready_only_from_starting),
	};

	return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
