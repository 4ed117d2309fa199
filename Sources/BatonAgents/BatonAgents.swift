// Agent back-ends live here.
