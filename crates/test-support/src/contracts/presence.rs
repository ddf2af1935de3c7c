//! The contract of [`PresenceRegistry`].
//!
//! The cast: Ada with her laptop and phone connections, Grace with one.

use std::future::Future;

use domain::ports::{PresenceRegistry, PresentUser};
use domain::{ConnectionId, PresenceState, UserId};
use uuid::Uuid;

use PresenceState::{Active, Idle};

/// Runs every case of the contract against registries made by `fresh`.
///
/// # Panics
/// When the adapter breaks the contract.
pub async fn run<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Box<dyn PresenceRegistry>>,
{
    eprintln!(
        "PresenceRegistry contract: the first connection to open and the last to close are told"
    );
    the_first_connection_to_open_and_the_last_to_close_are_told(fresh().await.as_ref()).await;
    eprintln!("PresenceRegistry contract: registering and unregistering twice change nothing");
    registering_and_unregistering_twice_change_nothing(fresh().await.as_ref()).await;
    eprintln!("PresenceRegistry contract: a user is active while any connection is");
    a_user_is_active_while_any_connection_is(fresh().await.as_ref()).await;
    eprintln!("PresenceRegistry contract: only present users are answered in the order asked");
    only_present_users_are_answered_in_the_order_asked(fresh().await.as_ref()).await;
    eprintln!("PresenceRegistry contract: a sweep takes no live connection");
    a_sweep_takes_no_live_connection(fresh().await.as_ref()).await;
}

const ADA: UserId = UserId::from_uuid(Uuid::from_u128(0xada));
const GRACE: UserId = UserId::from_uuid(Uuid::from_u128(0x6ace));
const NOBODY: UserId = UserId::from_uuid(Uuid::from_u128(0x0));
const ADAS_LAPTOP: ConnectionId = ConnectionId::from_uuid(Uuid::from_u128(0x1a));
const ADAS_PHONE: ConnectionId = ConnectionId::from_uuid(Uuid::from_u128(0xf0));
const GRACES_LAPTOP: ConnectionId = ConnectionId::from_uuid(Uuid::from_u128(0x6a));

fn present(user: UserId, state: PresenceState) -> PresentUser {
    PresentUser { user, state }
}

async fn the_first_connection_to_open_and_the_last_to_close_are_told(
    registry: &dyn PresenceRegistry,
) {
    assert!(registry.register(ADA, ADAS_LAPTOP).await.unwrap(), "first");
    assert!(!registry.register(ADA, ADAS_PHONE).await.unwrap(), "second");
    assert!(
        registry.register(GRACE, GRACES_LAPTOP).await.unwrap(),
        "Grace's own first"
    );

    assert!(
        !registry.unregister(ADA, ADAS_LAPTOP).await.unwrap(),
        "the phone is open"
    );
    assert_eq!(
        registry.present_among(&[ADA]).await.unwrap(),
        [present(ADA, Active)]
    );
    assert!(registry.unregister(ADA, ADAS_PHONE).await.unwrap(), "last");
    assert_eq!(registry.present_among(&[ADA]).await.unwrap(), []);

    assert!(
        registry.register(ADA, ADAS_PHONE).await.unwrap(),
        "present again: a first connection again"
    );
}

async fn registering_and_unregistering_twice_change_nothing(registry: &dyn PresenceRegistry) {
    assert!(registry.register(ADA, ADAS_LAPTOP).await.unwrap());
    assert!(!registry.register(ADA, ADAS_LAPTOP).await.unwrap());
    assert!(registry.unregister(ADA, ADAS_LAPTOP).await.unwrap());
    assert!(!registry.unregister(ADA, ADAS_LAPTOP).await.unwrap());
    assert!(
        !registry.unregister(GRACE, GRACES_LAPTOP).await.unwrap(),
        "never registered"
    );
    registry
        .set_state(GRACE, GRACES_LAPTOP, Idle)
        .await
        .unwrap();
    assert_eq!(
        registry.present_among(&[ADA, GRACE]).await.unwrap(),
        [],
        "setting the state of a closed connection opens nothing"
    );
}

async fn a_user_is_active_while_any_connection_is(registry: &dyn PresenceRegistry) {
    registry.register(ADA, ADAS_LAPTOP).await.unwrap();
    registry.register(ADA, ADAS_PHONE).await.unwrap();

    registry.set_state(ADA, ADAS_LAPTOP, Idle).await.unwrap();
    assert_eq!(
        registry.present_among(&[ADA]).await.unwrap(),
        [present(ADA, Active)],
        "the phone is still active"
    );
    registry.set_state(ADA, ADAS_PHONE, Idle).await.unwrap();
    assert_eq!(
        registry.present_among(&[ADA]).await.unwrap(),
        [present(ADA, Idle)]
    );
    registry.set_state(ADA, ADAS_PHONE, Active).await.unwrap();
    assert_eq!(
        registry.present_among(&[ADA]).await.unwrap(),
        [present(ADA, Active)]
    );
    registry.unregister(ADA, ADAS_PHONE).await.unwrap();
    assert_eq!(
        registry.present_among(&[ADA]).await.unwrap(),
        [present(ADA, Idle)],
        "the idle laptop is what is left"
    );
}

async fn only_present_users_are_answered_in_the_order_asked(registry: &dyn PresenceRegistry) {
    registry.register(ADA, ADAS_LAPTOP).await.unwrap();
    registry.register(GRACE, GRACES_LAPTOP).await.unwrap();
    registry
        .set_state(GRACE, GRACES_LAPTOP, Idle)
        .await
        .unwrap();

    assert_eq!(
        registry
            .present_among(&[GRACE, NOBODY, ADA, GRACE])
            .await
            .unwrap(),
        [present(GRACE, Idle), present(ADA, Active)]
    );
    assert_eq!(registry.present_among(&[]).await.unwrap(), []);
    assert_eq!(registry.present_among(&[NOBODY]).await.unwrap(), []);
}

async fn a_sweep_takes_no_live_connection(registry: &dyn PresenceRegistry) {
    registry.register(ADA, ADAS_LAPTOP).await.unwrap();
    registry.register(GRACE, GRACES_LAPTOP).await.unwrap();
    registry.unregister(GRACE, GRACES_LAPTOP).await.unwrap();

    assert_eq!(
        registry.sweep_departed().await.unwrap(),
        [],
        "nobody's connection was left behind"
    );
    assert_eq!(
        registry.present_among(&[ADA, GRACE]).await.unwrap(),
        [present(ADA, Active)],
        "the sweep changed nothing"
    );
    assert!(
        registry.unregister(ADA, ADAS_LAPTOP).await.unwrap(),
        "her connection is still hers to close"
    );
}
