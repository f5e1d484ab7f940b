; smtnn query: network = athletes_linear
; smtnn query: property = local-epsilon
; smtnn query: perturbation = |p - p0| <= 1/200
; smtnn query: domain = {'lower': ['121/100', '31'], 'upper': ['109/50', '170']}
; smtnn query: x0 = ['339/200', '201/2']
; smtnn query: epsilon = 106/625
; dialect: QF_NRA (exact polynomial arithmetic)
(set-logic QF_NRA)
(declare-fun p_layer0_W_0_0 () Real)
(declare-fun p_layer0_W_0_1 () Real)
(declare-fun p_layer0_W_1_0 () Real)
(declare-fun p_layer0_W_1_1 () Real)
(declare-fun p_layer0_W_2_0 () Real)
(declare-fun p_layer0_W_2_1 () Real)
(declare-fun p_layer0_b_0 () Real)
(declare-fun p_layer0_b_1 () Real)
(declare-fun p_layer0_b_2 () Real)
(declare-fun p_layer1_W_0_0 () Real)
(declare-fun p_layer1_W_0_1 () Real)
(declare-fun p_layer1_W_0_2 () Real)
(declare-fun p_layer1_b_0 () Real)
(assert (and (and (and (<= (- (/ 64818040973379287 112589990684262400)) p_layer0_W_0_0) (<= p_layer0_W_0_0 (- (/ 63692141066536663 112589990684262400)))) (and (<= (- (/ 14950289176807373 450359962737049600)) p_layer0_W_0_1) (<= p_layer0_W_0_1 (- (/ 10446689549436877 450359962737049600)))) (and (<= (/ 172794757214576647 28147497671065600) p_layer0_W_1_0) (<= p_layer0_W_1_0 (/ 173076232191287303 28147497671065600))) (and (<= (/ 89392704324723607 7205759403792793600) p_layer0_W_1_1) (<= p_layer0_W_1_1 (/ 161450298362651543 7205759403792793600))) (and (<= (/ 65679910030388161 14073748835532800) p_layer0_W_2_0) (<= p_layer0_W_2_0 (/ 65820647518743489 14073748835532800))) (and (<= (/ 29019738375728277 450359962737049600) p_layer0_W_2_1) (<= p_layer0_W_2_1 (/ 33523338003098773 450359962737049600))) (and (<= (/ 45962472210326561 14073748835532800) p_layer0_b_0) (<= p_layer0_b_0 (/ 46103209698681889 14073748835532800))) (and (<= (- (/ 81624684490854157 7036874417766400)) p_layer0_b_1) (<= p_layer0_b_1 (- (/ 81554315746676493 7036874417766400)))) (and (<= (- (/ 90063227009590557 7036874417766400)) p_layer0_b_2) (<= p_layer0_b_2 (- (/ 89992858265412893 7036874417766400)))) (and (<= (- (/ 136120244777154799 225179981368524800)) p_layer1_W_0_0) (<= p_layer1_W_0_0 (- (/ 133868444963469551 225179981368524800)))) (and (<= (/ 83142956561399363 112589990684262400) p_layer1_W_0_1) (<= p_layer1_W_0_1 (/ 84268856468241987 112589990684262400))) (and (<= (/ 64665643295423313 112589990684262400) p_layer1_W_0_2) (<= p_layer1_W_0_2 (/ 65791543202265937 112589990684262400))) (and (<= (- (/ 4703532395397403 28147497671065600)) p_layer1_b_0) (<= p_layer1_b_0 (- (/ 4422057418686747 28147497671065600))))) (< (+ (* p_layer1_W_0_0 (+ (* p_layer0_W_0_0 (/ 339 200)) (* p_layer0_W_0_1 (/ 201 2)) p_layer0_b_0)) (* p_layer1_W_0_1 (+ (* p_layer0_W_1_0 (/ 339 200)) (* p_layer0_W_1_1 (/ 201 2)) p_layer0_b_1)) (* p_layer1_W_0_2 (+ (* p_layer0_W_2_0 (/ 339 200)) (* p_layer0_W_2_1 (/ 201 2)) p_layer0_b_2)) p_layer1_b_0) (/ 526180606860735808367098098160937297 664613997892457936451903530140172288))))
(check-sat)
(exit)
