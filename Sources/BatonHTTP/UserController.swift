import BatonCore
import Hummingbird

/// `GET /v1/users/{user}`: `{"user", "admin"}`, whether the caller may `/restart` as
/// that user: an admin, whom the caller's token may speak for (without tokens: a caller
/// on this machine).
///
/// The page shows its Restart controls to admins only; the gateway checks again when
/// the command arrives.
struct UserController {
    let admins: Set<String>

    func register(on router: Router<BatonRequestContext>) {
        router.get("/v1/users/{user}") { _, context in
            let user = try context.parameters.requireDecoded("user")
            let admin = admins.contains(user) && context.caller.mayCommand(as: user)
            return JSONBody.response(.ok, UserBody(user: user, admin: admin))
        }
    }
}

private struct UserBody: Encodable {
    var user: String
    var admin: Bool
}
