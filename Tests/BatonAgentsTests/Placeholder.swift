import Testing
@Test func agentsPlaceholder() {}
