import BatonCore
import Hummingbird

/// `GET /v1/users/{user}`: `{"user", "admin"}`, whether a chat user may `/restart`.
///
/// The page shows its Restart controls to admins only; the gateway checks again when
/// the command arrives.
struct UserController {
    let admins: Set<String>

    func register(on router: Router<BatonRequestContext>) {
        router.get("/v1/users/{user}") { _, context in
            let user = try context.parameters.require("user")
            return JSONBody.response(.ok, UserBody(user: user, admin: admins.contains(user)))
        }
    }
}

private struct UserBody: Encodable {
    var user: String
    var admin: Bool
}
