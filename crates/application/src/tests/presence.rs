//! Presence, and the connections that make it: a room's present members are answered
//! with a fixed number of reads whatever its size; a user's first connection and last
//! are announced to the members of their rooms.

use domain::ports::{PresentUser, RoomAccessError, RoomEvent};
use domain::{ConnectionId, PresenceState, Sender, UserId};
use uuid::Uuid;

use super::{
    ADA, GRACE, Logs, Mocks, Refusal, SOMEONE_ELSE, ada, boom, general, grace, room, room_refusals,
    standing,
};
use crate::{PresentMember, RoomError};

/// The connection the id source names.
const LAPTOP: ConnectionId = ConnectionId::from_uuid(Uuid::from_u128(0x1a));

/// Ada is a member of "general", whose members are Ada, Bob and Grace.
fn ada_is_in_general_with_bob_and_grace(mocks: &mut Mocks) {
    mocks
        .rooms
        .expect_membership()
        .withf(|room, user| *room == general() && *user == ADA)
        .times(1)
        .returning(|room, _| Ok(standing(room, 3, 3)));
    mocks
        .rooms
        .expect_members()
        .withf(|room| *room == general())
        .times(1)
        .returning(|_| Ok(vec![ADA, SOMEONE_ELSE, GRACE]));
}

/// Of `asked`, the registry has `present` connected, once.
fn registry_has(mocks: &mut Mocks, present: Vec<PresentUser>) {
    mocks
        .presence
        .expect_present_among()
        .withf(|users| users == [ADA, SOMEONE_ELSE, GRACE])
        .times(1)
        .returning(move |_| Ok(present.clone()));
}

fn present(user: UserId, state: PresenceState) -> PresentUser {
    PresentUser { user, state }
}

#[tokio::test]
async fn the_present_members_come_with_their_names_and_states_read_in_one_go() {
    let mut mocks = Mocks::new();
    ada_is_in_general_with_bob_and_grace(&mut mocks);
    registry_has(
        &mut mocks,
        vec![
            present(ADA, PresenceState::Active),
            present(GRACE, PresenceState::Idle),
        ],
    );
    mocks
        .users
        .expect_find_by_ids()
        .withf(|ids| ids == [ADA, GRACE])
        .times(1)
        .returning(|_| Ok(vec![grace(), ada()]));

    let members = mocks
        .use_cases()
        .presence
        .execute(ADA, &general())
        .await
        .unwrap();

    assert_eq!(
        members,
        [
            PresentMember {
                user: Sender::from(&ada()),
                state: PresenceState::Active,
            },
            PresentMember {
                user: Sender::from(&grace()),
                state: PresenceState::Idle,
            },
        ]
    );
}

#[tokio::test]
async fn nobody_present_reads_no_names() {
    let mut mocks = Mocks::new();
    ada_is_in_general_with_bob_and_grace(&mut mocks);
    registry_has(&mut mocks, vec![]);
    mocks.users.expect_find_by_ids().never();

    let members = mocks
        .use_cases()
        .presence
        .execute(ADA, &general())
        .await
        .unwrap();

    assert_eq!(members, []);
}

#[tokio::test]
async fn a_present_member_deleted_meanwhile_is_left_out() {
    let mut mocks = Mocks::new();
    ada_is_in_general_with_bob_and_grace(&mut mocks);
    registry_has(
        &mut mocks,
        vec![
            present(ADA, PresenceState::Active),
            present(SOMEONE_ELSE, PresenceState::Active),
        ],
    );
    mocks
        .users
        .expect_find_by_ids()
        .times(1)
        .returning(|_| Ok(vec![ada()]));

    let members = mocks
        .use_cases()
        .presence
        .execute(ADA, &general())
        .await
        .unwrap();

    let ids: Vec<UserId> = members.iter().map(|member| member.user.id).collect();
    assert_eq!(ids, [ADA]);
}

#[tokio::test]
async fn presence_is_refused_as_the_store_says_before_anything_else_is_read() {
    for Refusal {
        what,
        store_says: refusal,
        answered: expected,
    } in room_refusals()
    {
        let mut mocks = Mocks::new();
        mocks
            .rooms
            .expect_membership()
            .times(1)
            .returning(move |_, _| Err(refusal()));
        mocks.rooms.expect_members().never();
        mocks.presence.expect_present_among().never();

        let result = mocks.use_cases().presence.execute(ADA, &general()).await;

        let error = result.expect_err(what);
        assert!(expected(&error), "{what}: got {error:?}");
    }
}

#[tokio::test]
async fn presence_passes_on_a_failure_at_any_step() {
    for failing in ["membership", "members", "registry", "names"] {
        let mut mocks = Mocks::new();
        mocks
            .rooms
            .expect_membership()
            .returning(move |room, _| match failing {
                "membership" => Err(RoomAccessError::Adapter(boom("membership"))),
                _ => Ok(standing(room, 0, 0)),
            });
        mocks
            .rooms
            .expect_members()
            .returning(move |_| match failing {
                "members" => Err(boom("members")),
                _ => Ok(vec![ADA]),
            });
        mocks
            .presence
            .expect_present_among()
            .returning(move |_| match failing {
                "registry" => Err(boom("registry")),
                _ => Ok(vec![present(ADA, PresenceState::Active)]),
            });
        mocks
            .users
            .expect_find_by_ids()
            .returning(|_| Err(boom("names")));

        let result = mocks.use_cases().presence.execute(ADA, &general()).await;

        assert!(
            matches!(result, Err(RoomError::Adapter(_))),
            "{failing} failed, got {result:?}"
        );
    }
}

/// Ada belongs to "general" and "random".
fn ada_belongs_to_two_rooms(mocks: &mut Mocks) {
    mocks
        .rooms
        .expect_rooms_of()
        .withf(|user| *user == ADA)
        .times(1)
        .returning(|_| {
            Ok(vec![
                standing(&general(), 4, 2),
                standing(&room("random"), 0, 0),
            ])
        });
}

/// Ada came (`present`) or went, as the members of her rooms hear it.
fn ada_presence(present: bool) -> RoomEvent {
    RoomEvent::PresenceChanged {
        user: Sender::from(&ada()),
        rooms: vec![general(), room("random")],
        present,
    }
}

#[tokio::test]
async fn adas_first_connection_is_registered_and_announced_to_her_rooms() {
    let mut mocks = Mocks::new();
    ada_belongs_to_two_rooms(&mut mocks);
    mocks
        .ids
        .expect_new_id()
        .times(1)
        .return_const(LAPTOP.as_uuid());
    mocks
        .presence
        .expect_register()
        .withf(|user, connection| *user == ADA && *connection == LAPTOP)
        .times(1)
        .returning(|_, _| Ok(true));
    mocks
        .bus
        .expect_publish()
        .withf(|event| *event == ada_presence(true))
        .times(1)
        .returning(|_| Ok(()));

    let opened = mocks
        .use_cases()
        .open_connection
        .execute(&ada())
        .await
        .unwrap();

    assert_eq!(opened.connection, LAPTOP);
    assert!(opened.first);
    assert_eq!(
        opened.rooms,
        [standing(&general(), 4, 2), standing(&room("random"), 0, 0)],
        "each followed from its cursor"
    );
}

#[tokio::test]
async fn a_second_connection_is_registered_without_announcement() {
    let mut mocks = Mocks::new();
    ada_belongs_to_two_rooms(&mut mocks);
    mocks
        .ids
        .expect_new_id()
        .times(1)
        .return_const(LAPTOP.as_uuid());
    mocks
        .presence
        .expect_register()
        .times(1)
        .returning(|_, _| Ok(false));
    mocks.bus.expect_publish().never();

    let opened = mocks
        .use_cases()
        .open_connection
        .execute(&ada())
        .await
        .unwrap();

    assert!(!opened.first);
}

#[tokio::test]
async fn the_first_and_last_connections_of_a_user_in_no_room_announce_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_rooms_of()
        .times(2)
        .returning(|_| Ok(Vec::new()));
    mocks
        .ids
        .expect_new_id()
        .times(1)
        .return_const(LAPTOP.as_uuid());
    mocks
        .presence
        .expect_register()
        .times(1)
        .returning(|_, _| Ok(true));
    mocks
        .presence
        .expect_unregister()
        .times(1)
        .returning(|_, _| Ok(true));
    // Every connection of every instance would wake for an event that tells none of
    // them anything.
    mocks.bus.expect_publish().never();
    let use_cases = mocks.use_cases();

    let opened = use_cases.open_connection.execute(&ada()).await.unwrap();
    let last = use_cases
        .close_connection
        .execute(&ada(), LAPTOP)
        .await
        .unwrap();

    assert!(opened.first, "still her first connection");
    assert!(last, "and her last");
}

#[tokio::test]
async fn a_connection_whose_rooms_cannot_be_read_is_not_registered() {
    let mut mocks = Mocks::new();
    mocks
        .rooms
        .expect_rooms_of()
        .times(1)
        .returning(|_| Err(boom("rooms of")));
    mocks.presence.expect_register().never();

    let result = mocks.use_cases().open_connection.execute(&ada()).await;

    assert!(result.is_err(), "got {result:?}");
}

#[tokio::test]
async fn a_connection_the_registry_refuses_is_not_announced() {
    let mut mocks = Mocks::new();
    ada_belongs_to_two_rooms(&mut mocks);
    mocks
        .ids
        .expect_new_id()
        .times(1)
        .return_const(LAPTOP.as_uuid());
    mocks
        .presence
        .expect_register()
        .times(1)
        .returning(|_, _| Err(boom("register")));
    mocks.bus.expect_publish().never();

    let result = mocks.use_cases().open_connection.execute(&ada()).await;

    assert!(result.is_err(), "got {result:?}");
}

#[tokio::test]
async fn adas_last_connection_closing_is_announced_to_her_rooms() {
    let (logs, _capturing) = Logs::capture();
    let mut mocks = Mocks::new();
    mocks
        .presence
        .expect_unregister()
        .withf(|user, connection| *user == ADA && *connection == LAPTOP)
        .times(1)
        .returning(|_, _| Ok(true));
    ada_belongs_to_two_rooms(&mut mocks);
    // A bus that fails costs the others a presence_leave, not Ada her close.
    mocks
        .bus
        .expect_publish()
        .withf(|event| *event == ada_presence(false))
        .times(1)
        .returning(|_| Err(boom("notify")));

    let last = mocks
        .use_cases()
        .close_connection
        .execute(&ada(), LAPTOP)
        .await
        .unwrap();

    assert!(last);
    assert!(
        logs.lines().iter().any(|line| line.starts_with("WARN")),
        "the bus failure was logged"
    );
}

#[tokio::test]
async fn a_connection_closing_while_another_is_open_reads_and_announces_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .presence
        .expect_unregister()
        .times(1)
        .returning(|_, _| Ok(false));
    mocks.rooms.expect_rooms_of().never();
    mocks.bus.expect_publish().never();

    let last = mocks
        .use_cases()
        .close_connection
        .execute(&ada(), LAPTOP)
        .await
        .unwrap();

    assert!(!last);
}

#[tokio::test]
async fn closing_passes_on_a_failure_of_the_registry_or_the_store() {
    for failing in ["registry", "store"] {
        let mut mocks = Mocks::new();
        mocks
            .presence
            .expect_unregister()
            .returning(move |_, _| match failing {
                "registry" => Err(boom("unregister")),
                _ => Ok(true),
            });
        mocks
            .rooms
            .expect_rooms_of()
            .returning(|_| Err(boom("rooms of")));
        mocks.bus.expect_publish().never();

        let result = mocks
            .use_cases()
            .close_connection
            .execute(&ada(), LAPTOP)
            .await;

        assert!(result.is_err(), "{failing} failed, got {result:?}");
    }
}

#[tokio::test]
async fn a_connection_goes_idle_and_active_again() {
    for state in [PresenceState::Idle, PresenceState::Active] {
        let mut mocks = Mocks::new();
        mocks
            .presence
            .expect_set_state()
            .withf(move |user, connection, set| {
                *user == ADA && *connection == LAPTOP && *set == state
            })
            .times(1)
            .returning(|_, _, _| Ok(()));

        let result = mocks
            .use_cases()
            .set_connection_state
            .execute(ADA, LAPTOP, state)
            .await;

        assert!(result.is_ok(), "{state}: got {result:?}");
    }
}

#[tokio::test]
async fn the_departure_sweep_runs_as_often_as_the_registry_asks_or_never() {
    for asked in [Some(std::time::Duration::from_secs(5)), None] {
        let mut mocks = Mocks::new();
        mocks.presence.expect_sweep_interval().return_const(asked);

        assert_eq!(mocks.use_cases().announce_departures.interval(), asked);
    }
}

#[tokio::test]
async fn users_left_behind_by_a_dead_instance_are_announced_gone_to_their_rooms() {
    let mut mocks = Mocks::new();
    mocks
        .presence
        .expect_sweep_departed()
        .times(1)
        .returning(|| Ok(vec![ADA, GRACE, SOMEONE_ELSE]));
    // Someone else's account was deleted meanwhile: nobody to tell about.
    mocks
        .users
        .expect_find_by_ids()
        .withf(|ids| ids == [ADA, GRACE, SOMEONE_ELSE])
        .times(1)
        .returning(|_| Ok(vec![ada(), grace()]));
    ada_belongs_to_two_rooms(&mut mocks);
    mocks
        .rooms
        .expect_rooms_of()
        .withf(|user| *user == GRACE)
        .times(1)
        .returning(|_| Ok(vec![standing(&general(), 4, 4)]));
    let grace_left = RoomEvent::PresenceChanged {
        user: Sender::from(&grace()),
        rooms: vec![general()],
        present: false,
    };
    let mut order = mockall::Sequence::new();
    mocks
        .bus
        .expect_publish()
        .withf(|event| *event == ada_presence(false))
        .times(1)
        .in_sequence(&mut order)
        .returning(|_| Ok(()));
    mocks
        .bus
        .expect_publish()
        .withf(move |event| *event == grace_left)
        .times(1)
        .in_sequence(&mut order)
        .returning(|_| Ok(()));

    let announced = mocks
        .use_cases()
        .announce_departures
        .execute()
        .await
        .unwrap();

    assert_eq!(announced, 2);
}

#[tokio::test]
async fn an_empty_sweep_reads_and_announces_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .presence
        .expect_sweep_departed()
        .times(1)
        .returning(|| Ok(Vec::new()));
    mocks.users.expect_find_by_ids().never();
    mocks.bus.expect_publish().never();

    let announced = mocks.use_cases().announce_departures.execute().await;

    assert_eq!(announced.unwrap(), 0);
}

#[tokio::test]
async fn a_departed_user_whose_rooms_cannot_be_read_is_skipped_and_the_others_are_told() {
    let (logs, _capturing) = Logs::capture();
    let mut mocks = Mocks::new();
    mocks
        .presence
        .expect_sweep_departed()
        .returning(|| Ok(vec![ADA, GRACE]));
    mocks
        .users
        .expect_find_by_ids()
        .returning(|_| Ok(vec![ada(), grace()]));
    mocks.rooms.expect_rooms_of().returning(|user| match user {
        ADA => Err(boom("rooms of")),
        _ => Ok(vec![standing(&general(), 1, 1)]),
    });
    mocks
        .bus
        .expect_publish()
        .withf(|event| {
            matches!(event, RoomEvent::PresenceChanged { user, present: false, .. } if user.id == GRACE)
        })
        .times(1)
        .returning(|_| Ok(()));

    let announced = mocks.use_cases().announce_departures.execute().await;

    assert_eq!(announced.unwrap(), 1);
    assert!(
        logs.lines().iter().any(|line| line.starts_with("WARN")),
        "the skipped user was logged"
    );
}

#[tokio::test]
async fn a_sweep_or_a_user_read_that_fails_is_passed_on_and_nobody_is_told() {
    for failing in ["registry", "users"] {
        let mut mocks = Mocks::new();
        mocks
            .presence
            .expect_sweep_departed()
            .returning(move || match failing {
                "registry" => Err(boom("sweep")),
                _ => Ok(vec![ADA]),
            });
        mocks
            .users
            .expect_find_by_ids()
            .returning(|_| Err(boom("find by ids")));
        mocks.bus.expect_publish().never();

        let result = mocks.use_cases().announce_departures.execute().await;

        assert!(result.is_err(), "{failing} failed, got {result:?}");
    }
}
