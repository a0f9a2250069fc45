//! Behaviour across real child processes, through the public API only: one
//! module per concept, one test binary.
//!
//! The binary has its own harness (`tests/common/harness.rs`): the tests
//! fork, so they run one at a time on the main thread, each under a watchdog
//! that aborts the binary (and with it, through the parent-death signal, its
//! children) if a test hangs.

#[path = "../common/mod.rs"]
mod common;

mod asynchronous;
mod bounds;
mod calls;
mod carry;
mod chaos;
mod connections;
mod contained;
mod control;
mod faults;
mod foreign;
mod gateway;
mod idle;
mod interrupt;
mod large;
mod leaks;
mod pool;
mod shutdown;
mod soak;
mod spawn;
mod toolbox;
mod top;
mod watching;
mod waves;
mod wiring;

fn main() {
    // The orphan test runs this binary again, as a parent that panics
    // (whose children, if spawned, take their role here).
    if std::env::var_os(shutdown::PANICKING_PARENT).is_some() {
        signal_slot::init_process();
        shutdown::panicking_parent();
    }
    // And as a program that forgets to take its role.
    if std::env::var_os(shutdown::FORGETFUL_PARENT).is_some() {
        shutdown::forgetful_parent();
    }
    common::harness::run(
        "process",
        process_tests![
            wiring::the_usage_example,
            wiring::several_objects_in_two_processes_wired_together,
            wiring::struct_and_map_arguments_cross_processes,
            wiring::timers_broadcasts_and_loop_signals_in_a_child,
            wiring::topics_across_processes,
            wiring::the_topology_spans_processes,
            connections::fan_out_order_and_graceful_stop_across_processes,
            connections::connections_at_any_time_between_running_processes,
            connections::emitting_on_behalf_of_an_object_in_a_child,
            connections::a_connection_ends_with_its_object_across_processes,
            connections::a_chain_wired_after_start_carries_its_first_signal,
            connections::keep_latest_into_a_stopped_child,
            connections::single_shot_connections_of_an_emitter_in_a_child,
            connections::a_signal_blocker_on_an_object_of_a_child,
            connections::many_interleaved_connections_reach_their_receivers_in_order,
            toolbox::prefix_slots_and_relays_through_a_child,
            toolbox::connections_of_an_emitter_in_a_child_as_values,
            toolbox::lifetime_across_processes_and_closures_that_cannot_go,
            toolbox::an_object_moves_into_a_child_and_back,
            watching::a_slow_slot_is_reported_while_it_runs_and_once_it_returns,
            watching::a_loop_that_takes_nothing_is_reported_stuck,
            watching::a_childs_slow_slot_is_reported_by_the_child,
            watching::a_childs_numbers_add_up_with_what_it_replaced,
            watching::a_full_ring_shows_in_its_senders_fill_and_its_connections_drops,
            watching::a_child_stuck_in_an_endless_slot_is_found_deaf,
            watching::a_stopped_child_is_found_deaf_and_heard_again_once_continued,
            watching::a_busy_child_under_load_is_never_deaf,
            watching::each_slot_run_is_a_tracing_span_with_its_loop_object_slot_and_sender,
            top::sample_factory_top_shows_every_loop_in_a_terminal,
            foreign::an_object_of_a_child_is_reached_by_name,
            foreign::a_program_starts_with_an_init_function_given_by_name,
            foreign::a_loop_made_again_under_an_old_name_is_reached,
            carry::a_loop_carried_to_a_child_is_reached_there_from_everywhere,
            carry::what_cannot_be_carried_is_refused,
            carry::in_serial_mode_a_carried_loop_waits_here,
            carry::a_loop_carried_to_a_killed_child_counts_what_is_sent_to_it,
            faults::a_killed_receiver_is_reported_and_costs_nothing,
            faults::undecodable_payloads_are_reported_and_the_loop_goes_on,
            faults::a_panicking_slot_in_a_child_ends_it_with_the_failure,
            faults::a_flood_before_the_receiver_starts,
            faults::a_child_that_exits_early_is_seen_by_its_parent,
            faults::a_panicking_drop_in_a_child_stays_in_the_child,
            faults::user_serde_code_that_fails_is_contained_both_ways,
            spawn::object_state_and_init_arguments_reach_a_spawned_child,
            spawn::what_cannot_travel_fails_at_start_and_changes_nothing,
            spawn::a_refused_spawn_start_is_fixed_by_detaching_what_cannot_travel,
            spawn::a_closure_init_cannot_travel_and_says_so,
            spawn::a_spawned_child_runs_the_program_and_arguments_it_is_given,
            spawn::a_loop_on_a_thread_of_a_child_is_reachable_from_everywhere,
            spawn::objects_come_back_from_a_child,
            calls::calls_into_a_child_and_back,
            calls::a_call_queued_before_the_start_is_answered_by_the_child,
            asynchronous::awaited_calls_and_a_stream_across_processes_and_a_killed_child => limit(300 s),
            gateway::the_gateway_answers_over_http_and_says_503_when_its_child_is_killed => limit(300 s),
            gateway::the_gateway_serves_for_its_seconds_then_exits_cleanly => limit(300 s),
            pool::shared_buffers_go_both_ways_in_place_and_back_to_their_pool,
            pool::buffers_held_by_ended_or_killed_processes_go_back,
            pool::buffers_of_signals_that_never_arrive_go_back,
            pool::one_buffer_to_two_processes_and_a_pool_made_in_a_child,
            pool::a_pool_made_in_a_spawned_childs_init_reaches_the_root,
            pool::a_buffer_in_an_object_moves_with_it_to_a_child,
            control::process_control,
            control::serial_processes_run_on_this_thread,
            soak::soak => limit(900 s),
            soak::soak_ten_million => ignored limit(3600 s),
            waves::waves_of_processes_keep_every_promise => limit(300 s),
            waves::a_hundred_waves_keep_every_promise => ignored limit(3600 s),
            idle::a_sleeping_child_wakes_for_every_signal_at_once => limit(120 s),
            chaos::a_child_killed_mid_stream,
            chaos::a_child_stopped_until_its_inbox_fills,
            bounds::a_flood_into_a_slow_child_is_bounded_and_counted,
            large::payloads_of_every_size_arrive_in_order_every_way => limit(300 s),
            large::a_gigabyte_payload_arrives_every_way => ignored limit(600 s),
            large::a_slow_receiver_of_large_payloads_stays_within_its_budget => limit(300 s),
            large::a_child_killed_with_large_payloads_in_flight_leaves_nothing_behind => limit(300 s),
            large::large_replies_and_large_objects_travel => limit(300 s),
            shutdown::stopping_with_signals_in_flight_loses_none_queued_before,
            shutdown::dropping_in_any_order_leaks_no_thread_and_no_process,
            shutdown::a_child_outlives_the_thread_that_started_it,
            shutdown::a_panicking_parent_leaves_no_orphans,
            shutdown::forgetting_init_process_is_a_clear_error_not_a_fork_bomb,
            shutdown::a_child_streaming_to_a_loop_that_ended_stops_when_asked,
            leaks::finished_processes_leave_nothing_behind => limit(300 s),
            leaks::a_thousand_finished_processes_leave_nothing_behind => ignored limit(1200 s),
            leaks::loops_created_and_ended_while_a_child_runs_leave_nothing_in_it => limit(300 s),
            leaks::a_thousand_loops_created_and_ended_leave_nothing_in_a_child => ignored limit(1200 s),
            contained::a_panicking_drop_of_an_argument_is_contained,
            contained::a_panicking_drop_of_an_unconnected_argument_is_contained,
            contained::a_panicking_drop_of_an_argument_place_by_place,
            contained::a_panicking_drop_of_an_ignored_argument_in_a_thread_loop,
            contained::a_panicking_drop_of_an_ignored_argument_in_a_child,
            contained::keep_latest_then_stop_in_a_thread_loop,
            contained::keep_latest_then_stop_in_a_child,
            contained::children_log_while_a_parent_thread_does,
            // Last: it sends SIGINT to this process (see its module).
            interrupt::ctrl_c_interrupts_every_running_loop,
            interrupt::ctrl_c_ends_a_loop_after_the_slot_that_runs_now,
        ],
    )
}
