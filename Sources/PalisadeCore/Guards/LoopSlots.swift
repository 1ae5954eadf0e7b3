/// Per-event-loop state that guards keep (a cache of verified tokens, a local limiter's table),
/// one slot per owner object. Confined to its loop and reached through `GuardRequest.loopSlot`,
/// so nothing in a slot needs a lock.
///
/// A slot holds its owner weakly and is found by the owner's identity. An identity is an address
/// a later object may reuse, so the weak reference is also checked on lookup: a new guard never
/// reads state a retired guard left. When a plan is installed, slots whose owner the plan's
/// guards do not list are dropped, so a reload frees the retired guards' state.
final class LoopSlots {
    private struct Slot {
        weak var owner: AnyObject?
        let value: AnyObject
    }

    private var slots: [ObjectIdentifier: Slot] = [:]

    /// The slot of `owner`, made by `make` the first time (or after its owner's address was reused).
    func value<Value: AnyObject>(for owner: AnyObject, make: () -> Value) -> Value {
        let id = ObjectIdentifier(owner)
        if let slot = slots[id], slot.owner === owner, let value = slot.value as? Value { return value }
        let made = make()
        slots[id] = Slot(owner: owner, value: made)
        return made
    }

    /// Keeps only the slots of `owners` that are still alive. A request still in flight under an
    /// older plan may make a slot again; the next install drops it.
    func retain(onlyOwnedBy owners: Set<ObjectIdentifier>) {
        slots = slots.filter { owners.contains($0.key) && $0.value.owner != nil }
    }

    /// The live slots holding a `Value`, for the admin view's sizes.
    func values<Value: AnyObject>(of type: Value.Type) -> [Value] {
        slots.values.compactMap { $0.owner == nil ? nil : $0.value as? Value }
    }
}

@available(*, unavailable)
extension LoopSlots: Sendable {}
